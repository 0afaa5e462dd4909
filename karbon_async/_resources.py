"""Which resources a client has: the declarations, one line per operation."""

from __future__ import annotations

from ._limits import Lane
from ._sender import RequestSender


class ResourceSet:
    """The resources, as attributes; ``KarbonClient`` is one, ``with_options`` returns one."""

    def __init__(self, sender: RequestSender, *, lane: Lane | None = None) -> None:
        self._sender = sender
