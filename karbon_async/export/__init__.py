"""Bulk export and incremental sync of many Karbon accounts at once.

::

    import karbon_async as ka
    from karbon_async.export import Account, Exporter

    accounts = [Account("Firm A", bearer_token=..., access_key=...), ...]
    report = await Exporter(accounts, ["contacts", "work-items"], out="export/").run()
    assert report.ok, report.failures

Every account is exported on its own budget (120 requests a minute by default) and all accounts
at once; each resource of an account is a stream sharing that account's budget. Files are
``out/ACCOUNT/RESOURCE.jsonl`` (or ``.csv``), written as ``.part`` and renamed when complete
(``ACCOUNT`` is the name when it is plain ASCII, else a transliteration plus a short hash).
Checkpoints in ``out/.karbon-export/`` let ``resume=True`` finish an interrupted
export with every record written exactly once. ``since=datetime`` or ``since="last"`` syncs only
what changed for resources that sort by ``LastModifiedDateTime desc`` (contacts, organizations);
others are exported in full. ``sink=`` takes any ``Sink`` (for example a database writer);
``on_event=`` and ``exporter.refresh()`` give live progress.
"""

from .._statefile import LocalWriteError
from ._engine import Exporter, export
from ._options import SINCE_LAST, ExportOptions
from ._postgres import PostgresSink
from ._progress import Account, AccountProgress, ExportEvent, ExportReport, StreamProgress
from ._registry import (
    DEFAULT_RESOURCES,
    RESOURCES,
    ExportResource,
    register_resource,
    resolve_resources,
)
from ._state import CheckpointStore, RunState, StreamState, load_checkpoints
from ._writers import (
    FORMATS,
    CsvStream,
    ExportStateError,
    FileSink,
    JsonlStream,
    Records,
    Sink,
    StreamInfo,
    StreamSink,
    encode_record,
    flatten,
)

__all__ = [
    "DEFAULT_RESOURCES",
    "FORMATS",
    "RESOURCES",
    "SINCE_LAST",
    "Account",
    "AccountProgress",
    "CheckpointStore",
    "CsvStream",
    "ExportEvent",
    "ExportOptions",
    "ExportReport",
    "ExportResource",
    "ExportStateError",
    "Exporter",
    "FileSink",
    "JsonlStream",
    "Records",
    "LocalWriteError",
    "PostgresSink",
    "RunState",
    "Sink",
    "StreamInfo",
    "StreamProgress",
    "StreamSink",
    "StreamState",
    "encode_record",
    "export",
    "flatten",
    "load_checkpoints",
    "register_resource",
    "resolve_resources",
]
