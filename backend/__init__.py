"""resphase: phase-diagram explorer for deep residual networks (system of record)."""

from __future__ import annotations


def _version() -> str:
    """project.version from the installed metadata (pyproject.toml is the one place it is written);
    in a source tree that was never installed, read from pyproject.toml beside this package."""
    from importlib import metadata

    try:
        return metadata.version("resphase")
    except metadata.PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"


__version__ = _version()
