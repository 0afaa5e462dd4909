"""Checkpoints: one small JSON file per stream, replaced atomically after every durable page.

``STATE_DIR/ACCOUNT/RESOURCE.json`` holds ``watermark`` (where the last completed incremental
sync got to) and ``run`` (the export in progress or last finished: its next link, counts and the
sink's position). Written to a temporary name, fsynced and renamed, so a crash leaves either the
old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import attrs

from ._writers import ExportStateError, _fsync_dir, safe_name

STATE_VERSION = 1

RUNNING = "running"
FINISHING = "finishing"
DONE = "done"


@attrs.define
class RunState:
    """One export of one stream, as far as it durably got."""

    status: str = RUNNING
    changes_since: str | None = None
    """The watermark this sync started from (None: everything)."""
    incremental: bool = False
    """True when this run sorts by the modified field and will save a new watermark."""
    new_watermark: str | None = None
    next_link: str | None = None
    """The link after the last durable page; None before the first page and at the end."""
    pages: int = 0
    records: int = 0
    count: int | None = None
    position: Any = None


@attrs.define
class StreamState:
    watermark: str | None = None
    run: RunState | None = None


class CheckpointStore:
    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.durable = durable

    def path(self, account: str, resource: str) -> Path:
        return self.directory / safe_name(account) / f"{resource}.json"

    def load_sync(self, account: str, resource: str) -> StreamState:
        path = self.path(account, resource)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StreamState()
        except (OSError, ValueError) as exc:
            raise ExportStateError(f"cannot read checkpoint {path}: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ExportStateError(f"checkpoint {path} is not a version {STATE_VERSION} file")
        run = raw.get("run")
        try:
            return StreamState(
                watermark=raw.get("watermark"),
                run=RunState(**run) if isinstance(run, dict) else None,
            )
        except TypeError as exc:
            raise ExportStateError(f"checkpoint {path} is damaged: {exc}") from exc

    def save_sync(self, account: str, resource: str, state: StreamState) -> None:
        path = self.path(account, resource)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "version": STATE_VERSION,
            "watermark": state.watermark,
            "run": None if state.run is None else attrs.asdict(state.run),
        }
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=1)
            if self.durable:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
        if self.durable:
            _fsync_dir(path.parent)

    async def load(self, account: str, resource: str) -> StreamState:
        return await asyncio.to_thread(self.load_sync, account, resource)

    async def save(self, account: str, resource: str, state: StreamState) -> None:
        # A copy, so the caller may go on changing its state while the thread writes.
        snapshot = StreamState(state.watermark, attrs.evolve(state.run) if state.run else None)
        await asyncio.to_thread(self.save_sync, account, resource, snapshot)
