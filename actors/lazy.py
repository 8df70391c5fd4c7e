"""Lazy package exports: a package names what it exports and where it lives; the defining
module is imported on first attribute access (PEP 562), so importing a light subpackage (the
protocol layer, the emulator's auth helpers) does not pull in pykka, aiohttp or the network
libraries.

Usage, in a package ``__init__``::

    __getattr__, __dir__ = lazy_exports(__name__, {"Hub": ".hub", ...})

Runs in: whichever thread first touches an exported name (imports take Python's import lock).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return the module ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps each public name to the module defining it, absolute or relative to
    ``package``. A resolved name is cached in the package's namespace, so later lookups are
    plain attribute reads.
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
