"""Where the server commands write their logs.

`resphase up` is quiet by default: the terminal gets its few start lines and the notices a user
must act on (a worker that died, a failure), while everything else (uvicorn's access log, Celery's
banner and chatter, kombu's warnings, Python warnings) goes to one log file in the data directory,
appended to by `up` and by its worker process alike. `--verbose` puts all of it on the terminal.
`resphase api` and `resphase worker` log to the terminal (containers collect it), at WARNING unless
`--verbose`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

# Our own commands' loggers live under this name; their notices reach the terminal even when the
# rest goes to the file.
NOTICES = "backend.commands"
FILE_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"


def log_file(data_dir: Path) -> Path:
    """The log file of `resphase up`: <data_dir>/logs/resphase.log."""
    return data_dir / "logs" / "resphase.log"


def _notices_to_terminal(command: str, level: int) -> None:
    """Records of our own loggers at `level` and above, on stderr as `resphase <command>: ...`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"resphase {command}: %(message)s"))
    handler.setLevel(level)
    notices = logging.getLogger(NOTICES)
    notices.handlers[:] = [handler]
    notices.setLevel(logging.INFO)


def to_file(command: str, path: Path) -> None:
    """This process's logging at INFO into `path` (appending; `path`'s folder is made), Python
    warnings included; only our own WARNING notices also reach the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    _notices_to_terminal(command, logging.WARNING)


def to_terminal(command: str, verbose: bool) -> None:
    """Logging on stderr: everything at INFO when verbose, else WARNING and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    _notices_to_terminal(command, logging.INFO if verbose else logging.WARNING)
    logging.getLogger(NOTICES).propagate = False  # printed once, by its own handler


def uvicorn_options(into_file: bool, verbose: bool) -> dict[str, Any]:
    """uvicorn.Config keywords. Into the file: uvicorn leaves logging alone (log_config=None) and
    its loggers, access log included, propagate to the root handler that `to_file` set. On the
    terminal: uvicorn's own format, with the access log only when verbose."""
    if into_file:
        return {"log_config": None, "log_level": "info", "access_log": True}
    return {"log_level": "info" if verbose else "warning", "access_log": verbose}
