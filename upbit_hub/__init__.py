"""upbit-hub: Upbit real-time data for synchronous Python programs.

This directory is only the import root ``upbit_hub``: the code lives in ``actors/``,
``plugins/`` and ``config/``, mapped in as ``upbit_hub.actors``, ``upbit_hub.plugins`` and
``upbit_hub.config`` (pyproject ``[tool.setuptools.package-dir]``). It imports nothing of
them, and ``__version__`` is looked up on first access (``importlib.metadata`` pulls in
``email`` and ``socket``), so importing ``upbit_hub.actors.protocol`` stays pure.

``__version__`` is the installed distribution's version (``importlib.metadata``), or the
``pyproject.toml`` version of a checkout whose metadata is missing. Runs in: any thread.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    __version__: str

__all__ = ["__version__"]


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("upbit-hub")
    except metadata.PackageNotFoundError:
        pass
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        with pyproject.open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "0+unknown"


_cache: dict[str, str] = {}


def __getattr__(name: str) -> str:
    if name == "__version__":
        if name not in _cache:
            _cache[name] = _version()
        return _cache[name]
    raise AttributeError(f"module 'upbit_hub' has no attribute {name!r}")
