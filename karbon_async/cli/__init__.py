"""The ``karbon-async`` command line: ``export``, ``sandbox``, ``demo`` and ``fleet``, one module
each, listed in one table (``_main.COMMANDS``); what they share is in ``_common``, and the export's
progress views and summary in ``_progress`` and ``_summary``.

Progress (``--progress``) is rich live bars on a terminal and plain lines otherwise (one per
account every few seconds and one per finished stream, flushed as written, so a redirected log
fills during the run), or JSON Lines for programs. Bad input (an unknown resource or setting, an
unreadable accounts file, missing credentials, an output path that is a file, a busy port, an
interrupted export in the way) is one line on stderr and exit code 2, before anything is written;
a bad accounts file gives one line per bad field of every account. An export with failed
streams (one account's failure never stops the others) exits 1 after its summary, with one line
per account and error; so does a local file that cannot be written (the disk is full), with one
line naming it.
"""

from ._main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
