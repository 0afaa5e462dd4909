"""Where exported records go: the sink interface and the JSON Lines and CSV file sinks.

A ``Sink`` opens one ``StreamSink`` per (account, resource). The exporter hands it whole pages;
``write_page`` returns a *position* (anything JSON can hold) that the exporter saves in the
stream's checkpoint once ``sync`` has made the page durable. On ``--resume`` the sink is opened
again at that position and must forget whatever was written after it, which is what makes a
resumed export write every record exactly once. ``finish`` makes the output visible (the file
sinks rename ``NAME.part`` to ``NAME``), so a file that looks finished always is. A database
sink can return ``None`` positions and upsert on the resource's ``key_field`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol, overload

import attrs

from .. import _statefile
from .._converter import parse_datetime
from .._exact_json import encode_exact
from .._exceptions import KarbonError
from .._json_records import field_values
from .._statefile import LocalWriteError
from ._registry import ExportResource

Record = Mapping[str, Any]


class Records(Sequence[Record]):
    """One page of records as the exporter hands it to a sink.

    ``texts`` holds each record's JSON exactly as the API sent it (UTF-8, one line): what the
    built-in sinks store, with no decoding at all. Indexing or iterating gives the records as
    dicts (numbers with a fraction as Decimal, so nothing is rounded), decoded on first use, for
    sinks that need Python objects; ``values(field)`` reads one top-level field of every record
    cheaply (keys, timestamps).
    """

    __slots__ = ("_decoded", "texts")

    def __init__(self, texts: Sequence[bytes]) -> None:
        self.texts = texts
        self._decoded: list[Record] | None = None

    def values(self, field: str) -> list[Any]:
        return field_values(self.texts, field)

    def _records(self) -> list[Record]:
        if self._decoded is None:
            self._decoded = [json.loads(text, parse_float=Decimal) for text in self.texts]
        return self._decoded

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Records: ...
    def __getitem__(self, index: int | slice) -> Record | Records:
        if isinstance(index, slice):
            return Records(self.texts[index])
        return self._records()[index]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records())

    def __repr__(self) -> str:
        return f"<Records: {len(self.texts)}>"


class ExportStateError(KarbonError):
    """Saved export state and the files on disk disagree (e.g. a ``.part`` file was removed)."""


@attrs.frozen
class StreamInfo:
    """What a sink is told about the stream it is opening."""

    account: str
    resource: ExportResource
    changes_since: str | None = None
    """None for a full export; else the watermark an incremental sync started from."""


class StreamSink(Protocol):
    async def write_page(self, records: Sequence[Record]) -> Any:
        """Store one page; return the position to resume after it.

        The exporter passes a ``Records``: ``records.texts`` are the API's own JSON texts (store
        those to keep every digit without decoding anything); iterating gives dicts."""

    async def sync(self) -> None:
        """Make every page written so far durable (return at once if they already are).

        The exporter calls it before checkpointing positions, in groups, not after every page.
        """

    async def finish(self) -> None:
        """Make the output complete and visible. Called again after a crash: be idempotent."""

    async def close(self) -> None:
        """Release resources without finishing (after a failure or cancellation)."""


class Sink(Protocol):
    async def open(self, stream: StreamInfo, position: Any | None) -> StreamSink:
        """Open a stream; ``position`` None starts afresh, else resumes after that position."""


def encode_record(record: Record) -> bytes:
    """One JSON Lines line: compact, UTF-8, numbers exactly as the API wrote them."""
    return (encode_exact(record) + "\n").encode()


_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()@+-]+")
_HASHED = re.compile(r"-[0-9a-f]{10}$")
_MAX_SLUG = 100


def safe_name(name: str) -> str:
    """The folder of an account: a file-system-safe ASCII form of its name, distinct for
    distinct names.

    A name made only of safe characters is its own folder. Any other name is transliterated
    (accents dropped, other characters as ``_``) and gets a hash of the exact name, so that
    "Müller GmbH" and "Möller GmbH" become ``Muller GmbH-<hash>`` and ``Moller GmbH-<hash>``.
    A name that already ends like such a hash is hashed too, so no name can take another's
    folder. Names differing only in case stay as they are: ``Exporter`` refuses those.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("_", folded).strip(" .")[:_MAX_SLUG].rstrip(" .")
    if slug == name and not _HASHED.search(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug or 'account'}-{digest}"


def _stamp(watermark: str) -> str:
    """The watermark as a UTC time for a file name: ``20251225T000000Z``."""
    try:
        moment = parse_datetime(watermark).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):  # not a time: its digits, still a safe name
        return re.sub(r"[^0-9T]", "", watermark)[:15] + "Z"
    return moment.strftime("%Y%m%dT%H%M%SZ")


def output_name(stream: StreamInfo, extension: str) -> str:
    base = stream.resource.name
    if stream.changes_since is not None:
        base += f".changes-since-{_stamp(stream.changes_since)}"
    return f"{base}.{extension}"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _FileStream:
    """Append-only ``.part`` file with byte-offset positions."""

    def __init__(self, final: Path, part: Path, *, durable: bool) -> None:
        self.final = final
        self.part = part
        self.durable = durable
        self._file: IO[bytes] | None = None
        self._finished = False
        self._device: int | None = None
        self._untouched = False
        """Opened afresh and nothing written yet: closing after a failure removes it."""
        self._end = 0
        """Where the file ends: only this stream writes it (no seek before each page)."""

    @property
    def already_finished(self) -> bool:
        return self._finished

    def open_sync(self, position: int | None) -> None:
        try:
            self._open_sync(position)
        except OSError as exc:
            raise LocalWriteError(self.part, exc) from exc

    def _open_sync(self, position: int | None) -> None:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if position is None:
            # Unbuffered: a failed write leaves nothing behind to be flushed again on close.
            self._file = open(self.part, "wb", buffering=0)  # noqa: SIM115 - kept open
            self._untouched = True
            self._end = 0
            return
        if not self.part.exists():
            if self.final.exists():
                self._finished = True  # finished before the crash, the checkpoint lagged
                return
            raise ExportStateError(
                f"{self.part} is missing but the checkpoint says {position} bytes were written; "
                "export again without --resume"
            )
        file = open(self.part, "r+b", buffering=0)  # noqa: SIM115
        size = file.seek(0, os.SEEK_END)
        if size < position:
            file.close()
            raise ExportStateError(
                f"{self.part} has {size} bytes but the checkpoint says {position}; "
                "export again without --resume"
            )
        file.truncate(position)  # whatever was written after the last checkpoint goes
        file.seek(position)
        self._file = file
        self._end = position

    def write_sync(self, data: bytes) -> int:
        """Append to the OS (a killed process loses nothing written); ``sync`` for the disk."""
        assert self._file is not None
        self._untouched = False
        self._end = _statefile.write_all(self._file.fileno(), data, self.part, self._end)
        return self._end

    def sync_sync(self) -> None:
        if self.durable and self._file is not None:
            try:
                os.fdatasync(self._file.fileno())
            except OSError as exc:
                raise LocalWriteError(self.part, exc) from exc

    def device(self) -> int | None:
        """The file system the part file is on, for a batched ``syncfs``; None if closed."""
        if not self.durable or self._file is None:
            return None
        if self._device is None:
            self._device = os.fstat(self._file.fileno()).st_dev
        return self._device

    def fileno(self) -> int:
        assert self._file is not None
        return self._file.fileno()

    def close_sync(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def abandon_sync(self) -> None:
        """Close after a failure. A stream that failed before its first page (a refused token)
        leaves no empty ``.part``: its checkpoint holds no position, so ``resume`` starts it
        afresh all the same."""
        untouched = self._untouched and self._file is not None
        self.close_sync()
        if untouched:
            with contextlib.suppress(OSError):
                self.part.unlink()

    def seal_sync(self) -> bool:
        """Close the part file; False when the stream was already finished."""
        if self._finished:
            return False
        if self._file is not None:
            self.sync_sync()
            self.close_sync()
        return True

    def publish_sync(self, source: Path) -> None:
        try:
            os.replace(source, self.final)
        except OSError as exc:
            raise LocalWriteError(self.final, exc) from exc
        if self.durable:
            _fsync_dir(self.final.parent)
        self._finished = True


class JsonlStream:
    """One JSON Lines file: ``DIR/ACCOUNT/RESOURCE.jsonl``, built as ``.jsonl.part``."""

    extension = "jsonl"

    def __init__(self, final: Path, *, durable: bool) -> None:
        self._file = _FileStream(final, final.with_name(final.name + ".part"), durable=durable)

    @property
    def path(self) -> Path:
        return self._file.final

    @property
    def already_finished(self) -> bool:
        """Opened at a position, found published: it was finished before a crash."""
        return self._file.already_finished

    async def _open(self, position: Any | None) -> None:
        at = None if position is None else int(position)
        opening = asyncio.ensure_future(asyncio.to_thread(self._file.open_sync, at))
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The thread opens the file even so (the run is being stopped): close it after.
            with contextlib.suppress(Exception):
                await opening
            self._file.close_sync()
            raise

    def _encode(self, records: Sequence[Record]) -> bytes:
        if isinstance(records, Records):
            texts = records.texts
            return b"\n".join(texts) + b"\n" if texts else b""
        return b"".join(encode_record(r) for r in records)

    async def write_page(self, records: Sequence[Record]) -> Any:
        # A page is a few kilobytes into the page cache: cheaper inline than a thread hop.
        return self._file.write_sync(self._encode(records))

    def sync_blocking(self) -> None:
        """``sync`` for a caller already off the event loop (the exporter batches these)."""
        self._file.sync_sync()

    def sync_device(self) -> tuple[int, int] | None:
        """(device, a file descriptor on it) so that many files can be synced with one
        ``syncfs``; None when there is nothing to sync."""
        device = self._file.device()
        return None if device is None else (device, self._file.fileno())

    async def sync(self) -> None:
        await asyncio.to_thread(self._file.sync_sync)

    async def finish(self) -> None:
        if await asyncio.to_thread(self._file.seal_sync):
            await asyncio.to_thread(self._file.publish_sync, self._file.part)

    async def close(self) -> None:
        # Inline, not in a thread: a cancelled run must still close it (a thread job cancelled
        # before it started would never run).
        self._file.abandon_sync()


def flatten(record: Record, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested objects become ``Parent.Child`` columns; lists become JSON text."""
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                flatten(value, name + ".", out)
            else:
                out[name] = "{}"
        elif isinstance(value, list | tuple):
            out[name] = encode_exact(value)
        else:
            out[name] = value
    return out


def _row(record: Any) -> dict[str, Any]:
    """A record's CSV columns; an item that is not a JSON object (the API's misfit) is kept
    whole, as JSON text in the ``@value`` column, rather than stopping the export."""
    if isinstance(record, Mapping):
        return flatten(record)
    return {"@value": encode_exact(record)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvStream(JsonlStream):
    """One CSV file with flattened columns.

    Columns are only known once every record has been seen, so pages are staged (flattened) as
    JSON Lines in ``NAME.csv.part``; ``finish`` reads the stage twice, once for the columns (in
    order of first appearance) and once to write ``NAME.csv.tmp``, then renames it: constant
    memory, and resumable by byte offset like JSON Lines.
    """

    extension = "csv"

    def _encode(self, records: Sequence[Record]) -> bytes:
        return b"".join(encode_record(_row(r)) for r in records)

    def _convert_sync(self) -> Path:
        stage = self._file.part
        columns: dict[str, None] = {}
        with open(stage, "rb") as lines:
            for line in lines:
                columns.update(dict.fromkeys(json.loads(line)))
        target = self._file.final.with_name(self._file.final.name + ".tmp")
        try:
            self._write_csv(stage, target, columns)
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise LocalWriteError(target, exc) from exc
        return target

    def _write_csv(self, stage: Path, target: Path, columns: dict[str, None]) -> None:
        with open(target, "w", newline="", encoding="utf-8") as out, open(stage, "rb") as lines:
            writer = csv.writer(out)
            writer.writerow(columns)
            for line in lines:
                row = json.loads(line, parse_float=Decimal)  # the API's digits, unrounded
                writer.writerow([_cell(row.get(c)) for c in columns])
            if self._file.durable:
                out.flush()
                os.fsync(out.fileno())

    async def finish(self) -> None:
        if await asyncio.to_thread(self._file.seal_sync):
            target = await asyncio.to_thread(self._convert_sync)
            await asyncio.to_thread(self._file.publish_sync, target)
            await asyncio.to_thread(self._file.part.unlink, missing_ok=True)


class FileSink:
    """Files under ``directory``: ``ACCOUNT/RESOURCE.jsonl`` (or ``.csv``), one per stream.

    ``durable`` fsyncs every page before its checkpoint is saved (what makes ``kill -9`` safe);
    turn it off only for throwaway exports.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, format: str = "jsonl", durable: bool = True
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
        self.directory = Path(directory)
        self.format = format
        self.durable = durable

    def path_for(self, stream: StreamInfo) -> Path:
        cls = FORMATS[self.format]
        return self.directory / safe_name(stream.account) / output_name(stream, cls.extension)

    async def open(self, stream: StreamInfo, position: Any | None) -> StreamSink:
        handle = FORMATS[self.format](self.path_for(stream), durable=self.durable)
        await handle._open(position)
        return handle


FORMATS: dict[str, type[JsonlStream]] = {"jsonl": JsonlStream, "csv": CsvStream}
