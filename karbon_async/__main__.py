"""``python -m karbon_async``: the ``karbon-async`` command."""

import sys

from .cli import main

sys.exit(main())
