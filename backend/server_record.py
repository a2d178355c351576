"""Where the last `resphase up` is listening, so clients find it without `--url`.

`resphase up` writes a small JSON record ({"url", "pid", "data_dir", "started_at"}) to two places:
its data directory (`<data_dir>/server.json`) and the user's state directory
(`$XDG_STATE_HOME/resphase/last-server.json`, default `~/.local/state/...`), so a notebook opened
in another folder still finds it. It removes both on a clean stop. A client resolves its URL as:
an explicit url, else RESPHASE_URL, else the record of a server whose process is still alive
(data directory first), else http://127.0.0.1:8000.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
RECORD_NAME = "server.json"


def user_record_path() -> Path:
    """The per-user copy of the record (XDG state directory)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "resphase" / "last-server.json"


def default_data_dir() -> Path:
    """The data directory a client should look in: RESPHASE_DATA_DIR, else ./resphase-data
    (the same default as backend.settings.Settings.data_dir)."""
    return Path(os.environ.get("RESPHASE_DATA_DIR") or "./resphase-data")


def record_server(data_dir: Path, url: str, pid: int | None = None) -> None:
    """Write the record for a server that has just started listening at `url`."""
    doc = {"url": url, "pid": pid if pid is not None else os.getpid(),
           "data_dir": str(Path(data_dir).resolve()), "started_at": time.time()}
    for path in (Path(data_dir) / RECORD_NAME, user_record_path()):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc))
            tmp.replace(path)  # atomic: a reader never sees half a record
        except OSError:
            continue  # a read-only home must not stop the server


def clear_record(data_dir: Path, pid: int | None = None) -> None:
    """Remove the records written by process `pid` (default: this one); others' records stay."""
    pid = pid if pid is not None else os.getpid()
    for path in (Path(data_dir) / RECORD_NAME, user_record_path()):
        doc = _read(path)
        if doc is not None and doc.get("pid") == pid:
            path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("url"), str) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def recorded_url(data_dir: Path | None = None) -> str | None:
    """The URL of the last `resphase up` that is still running, or None."""
    for path in (Path(data_dir or default_data_dir()) / RECORD_NAME, user_record_path()):
        doc = _read(path)
        if doc is not None and _alive(doc.get("pid")):
            return str(doc["url"])
    return None


def resolve_url(url: str | None = None, data_dir: Path | None = None) -> str:
    """The server a client talks to: `url`, else RESPHASE_URL, else the recorded server, else :8000."""
    return (url or os.environ.get("RESPHASE_URL") or recorded_url(data_dir) or DEFAULT_URL).rstrip("/")
