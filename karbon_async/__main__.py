"""``python -m karbon_async``: the ``karbon-async`` command."""

import sys

from ._cli import main

sys.exit(main())
