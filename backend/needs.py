"""Optional parts of an installation, checked before a command that needs them starts.

torch is only in the `worker` extra (pyproject.toml): the API, the client commands and the notebook
client run without it. Commands that compute (`resphase run`, `worker`, `up`, in-process
`reproduce`) call require_worker_extra() first, so a lean install says what to install in one line
instead of an ImportError traceback from deep inside the worker.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

WORKER_EXTRA_HINT = "pip install 'resphase[worker]'"
# Exit status of a command whose optional dependency is not installed (2 and 3 are serve.py's).
EXIT_MISSING_EXTRA = 4


class MissingExtra(SystemExit):
    """An optional dependency is not installed; its line is already on stderr. Left uncaught, Python
    exits with EXIT_MISSING_EXTRA and prints nothing more (no traceback)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_MISSING_EXTRA)
        self.message = message

    def __str__(self) -> str:
        return self.message


def has_worker_extra() -> bool:
    """True when torch is importable (found, not imported: this stays cheap for the API process)."""
    return find_spec("torch") is not None


def require_worker_extra(command: str) -> None:
    """When torch is missing: print one line naming the command and the install line, then raise
    MissingExtra (exit status EXIT_MISSING_EXTRA)."""
    if has_worker_extra():
        return
    line = (f"resphase {command}: error: this command trains networks and needs torch, which this "
            f"installation lacks; install it with: {WORKER_EXTRA_HINT}")
    print(line, file=sys.stderr, flush=True)
    raise MissingExtra(line)
