"""starlux: the Lux model (Horta, Price-Whelan, Hogg, Ness & Casey 2025).

A generative, multi-output latent-variable model that learns stellar labels and
spectra together from noisy and incomplete training data.

The names most scripts need are here::

    import starlux
    train, test = starlux.datasets.make_emulated(300, 100, seed=0)
    model = starlux.Lux().fit(train)
    table = model.predict(test).to_table()

``Lux``, ``LuxModel``, ``load_model``, ``read_dataset``, ``write_dataset``,
``read_xp`` (Gaia XP files as a dataset), ``Prediction`` and the
:mod:`starlux.datasets` module are imported on first use, so
``import starlux`` stays light and the package has no import circles.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import config as _config  # noqa: F401  (enables float64 in JAX)
from .config import enable_compilation_cache
from .data import DataError, Dataset, Output

try:
    __version__ = version("starlux")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

# public name -> (module, attribute); attribute None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "Lux": ("starlux.model", "Lux"),
    "LuxModel": ("starlux.model", "LuxModel"),
    "load_model": ("starlux.model", "load_model"),
    "read_dataset": ("starlux.io.datasets", "read_dataset"),
    "write_dataset": ("starlux.io.datasets", "write_dataset"),
    "read_xp": ("starlux.io.gaiaxp", "read_xp"),
    "Prediction": ("starlux.prediction", "Prediction"),
    "datasets": ("starlux.datasets", None),
}

__all__ = ["Dataset", "Output", "DataError", "enable_compilation_cache", "__version__",
           *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'starlux' has no attribute {name!r}") from None
    mod = import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
