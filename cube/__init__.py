"""sarcube: on-demand Sentinel-1 analysis-ready data from zarr burst cubes."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__version__ = "0.1.0"


def lazy_names(package: str, modules: dict[str, str]) -> Callable[[str], object]:
    """A package's module ``__getattr__`` (PEP 562): name → its submodule, imported on first use.

    ``modules`` maps each name to the submodule that defines it (``"_grid"`` for
    ``package._grid``); a name once read is kept in the package's namespace.
    """

    def __getattr__(name: str) -> object:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
