"""Model files: versioned, self-describing HDF5 (``.h5``), written atomically.

Layout::

    /                       attrs: format="starlux-model", format_version, starlux_version,
                                   config (JSON), created (ISO time)
    /outputs/<name>/        attrs: kind, transform (name), transform_config (JSON),
                                   has_scatter; datasets: names, center, scale,
                                   [wavelength], [ln_scatter], [model_error],
                                   [model_error_trend/{lo, hi, coef}],
                                   [error_uncertainty], [map_cov] (D, P, P),
                                   [held_out/{values, statistical_var, used}]
                                   (N_train, D),
                                   params/<param> (e.g. W (D, P))
    /latents/z_train        (N_train, P)
    /latents/prior_mean     (P,)
    /latents/prior_cov      (P, P)
    /training/history       structured (step, chi2)
    /training/selection     JSON attr
    /training/robust        JSON attr: entries screened / clipped per output
    /training/ids           optional
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
from packaging.version import InvalidVersion, Version

from ..spec import LuxConfig, ModelState, OutputSpec
from ..transforms import TRANSFORMS, transform_from_config
from ..units import ColumnLimits
from .atomic import atomic_path
from .errors import FileFormatError

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_NAME = "starlux-model"
FORMAT_VERSION = 1


def _config_json(config: LuxConfig) -> str:
    return json.dumps(config.settings())


def save_model(path: str | os.PathLike, model: ModelState) -> None:
    """Write ``model`` to ``path`` (HDF5) atomically."""
    from .. import __version__

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["starlux_version"] = __version__
        f.attrs["config"] = _config_json(model.config)
        f.attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat()
        f.attrs["n_latents"] = model.n_latents
        f.attrs["reg"] = model.reg
        g_out = f.create_group("outputs")
        g_out.attrs["order"] = json.dumps(list(model.specs))
        for name, spec in model.specs.items():
            g = g_out.create_group(name)
            g.attrs["kind"] = spec.kind
            g.attrs["transform"] = spec.transform.name
            g.attrs["transform_config"] = json.dumps(spec.transform.config())
            g.attrs["has_scatter"] = bool(spec.has_scatter)
            g.create_dataset("names", data=np.array(spec.names, dtype=object),
                             dtype=h5py.string_dtype())
            g.create_dataset("center", data=spec.center)
            g.create_dataset("scale", data=spec.scale)
            if spec.wavelength is not None:
                g.create_dataset("wavelength", data=spec.wavelength)
            if name in model.ln_scatter:
                g.create_dataset("ln_scatter", data=np.asarray(model.ln_scatter[name]))
            if spec.limits is not None:
                g.create_dataset("limits", data=np.stack([np.asarray(x, np.float64)
                                                          for x in spec.limits]))
            if name in model.model_error:
                g.create_dataset("model_error", data=np.asarray(model.model_error[name]))
            if name in model.model_error_trend:
                gt = g.create_group("model_error_trend")
                for k, v in model.model_error_trend[name].items():
                    gt.create_dataset(k, data=np.asarray(v, np.float64))
            if name in model.error_scale:
                g.attrs["error_scale"] = float(model.error_scale[name])
            if name in model.error_uncertainty:
                g.create_dataset("error_uncertainty",
                                 data=np.asarray(model.error_uncertainty[name], np.float64))
            if name in model.map_cov:
                g.create_dataset("map_cov", data=np.asarray(model.map_cov[name]))
            if name in model.held_out:
                gh = g.create_group("held_out")
                for k, v in model.held_out[name].items():
                    gh.create_dataset(k, data=np.asarray(v, bool if k == "used" else np.float64))
            gp = g.create_group("params")
            for k, v in model.params[name].items():
                gp.create_dataset(k, data=np.asarray(v))
        g_lat = f.create_group("latents")
        g_lat.create_dataset("z_train", data=model.z_train)
        g_lat.create_dataset("prior_mean", data=model.prior_mean)
        g_lat.create_dataset("prior_cov", data=model.prior_cov)
        g_tr = f.create_group("training")
        g_tr.attrs["history"] = json.dumps([[s, float(c)] for s, c in model.history])
        g_tr.attrs["selection"] = json.dumps(model.selection)
        g_tr.attrs["robust"] = json.dumps(model.robust)
        if model.train_ids is not None:
            ids = np.asarray(model.train_ids)
            if ids.dtype.kind in "US":
                g_tr.create_dataset("ids", data=ids.astype(object), dtype=h5py.string_dtype())
            else:
                g_tr.create_dataset("ids", data=ids)


def _str(x: object) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _check_versions(path: Path, attrs: h5py.AttributeManager) -> None:
    """An error naming the file for a format this starlux cannot read; a warning when
    the file was written by a newer starlux (it may hold settings this one ignores)."""
    from .. import __version__

    raw = attrs.get("format_version")
    try:
        version = int(raw)  # type: ignore[arg-type]
        if version != float(raw):  # type: ignore[arg-type]
            raise ValueError
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}: unreadable model format_version {_str(raw)!r} "
                              f"(expected the integer {FORMAT_VERSION})") from None
    if version != FORMAT_VERSION:
        raise FileFormatError(
            f"{path}: model format version {version} is not supported by this starlux "
            f"{__version__} (it reads version {FORMAT_VERSION})")
    written = _str(attrs.get("starlux_version", ""))
    try:
        newer = Version(written) > Version(__version__)
    except InvalidVersion:
        newer = False
    if newer:
        warnings.warn(f"{path}: written by starlux {written}, newer than this starlux "
                      f"{__version__}; upgrade if the model does not load or predict as "
                      "expected", UserWarning, stacklevel=3)


def load_model(path: str | os.PathLike) -> ModelState:
    """Read a model file; raises :class:`FileFormatError` naming the problem.
    (:meth:`starlux.model.LuxModel.load` wraps the result with its methods.)"""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such model file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path}: not a readable HDF5 model file ({exc})") from None
    with f:
        try:
            fmt = _str(f.attrs.get("format", ""))
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise FileFormatError(f"{path}: corrupt model file (cannot read its header: "
                                  f"{exc})") from None
        if fmt != FORMAT_NAME:
            raise FileFormatError(f"{path}: not a starlux model file (no format={FORMAT_NAME!r})")
        try:
            _check_versions(path, f.attrs)
            cfg = json.loads(_str(f.attrs["config"]))
            for key in ("scatter", "latent_grid", "reg_grid", "families"):
                if cfg.get(key) is not None:
                    cfg[key] = tuple(cfg[key])
            if cfg.get("transforms"):
                cfg["transforms"] = {k: transform_from_config(name, options)
                                     for k, (name, options) in cfg["transforms"].items()}
            known = {fld.name for fld in dataclasses.fields(LuxConfig)}
            config = LuxConfig(**{k: v for k, v in cfg.items() if k in known})
            order = json.loads(_str(f["outputs"].attrs["order"]))
            specs, params, ln_s, model_err, map_cov = {}, {}, {}, {}, {}
            trend: dict[str, dict[str, np.ndarray]] = {}
            error_scale: dict[str, float] = {}
            error_unc: dict[str, np.ndarray] = {}
            held_out: dict[str, dict[str, np.ndarray]] = {}
            for name in order:
                g = f["outputs"][name]
                tname = _str(g.attrs["transform"])
                if tname not in TRANSFORMS:
                    raise FileFormatError(f"{path}: output {name!r} uses unknown transform "
                                          f"{tname!r}")
                tr = transform_from_config(tname, json.loads(_str(g.attrs["transform_config"])))
                specs[name] = OutputSpec(
                    name=name, kind=_str(g.attrs["kind"]),
                    names=tuple(_str(s) for s in g["names"][()]),
                    wavelength=g["wavelength"][()] if "wavelength" in g else None,
                    center=g["center"][()], scale=g["scale"][()], transform=tr,
                    has_scatter=bool(g.attrs["has_scatter"]),
                    limits=ColumnLimits(*g["limits"][()]) if "limits" in g else None)
                params[name] = {k: g["params"][k][()] for k in g["params"]}
                if "ln_scatter" in g:
                    ln_s[name] = g["ln_scatter"][()]
                if "model_error" in g:
                    model_err[name] = g["model_error"][()]
                if "model_error_trend" in g:
                    gt = g["model_error_trend"]
                    trend[name] = {k: gt[k][()] for k in ("lo", "hi", "coef")}
                if "error_scale" in g.attrs:
                    error_scale[name] = float(g.attrs["error_scale"])
                if "error_uncertainty" in g:
                    error_unc[name] = g["error_uncertainty"][()]
                if "map_cov" in g:
                    map_cov[name] = g["map_cov"][()]
                if "held_out" in g:
                    held_out[name] = {k: g["held_out"][k][()]
                                      for k in ("values", "statistical_var", "used")}
            lat = f["latents"]
            tr_g = f["training"]
            ids = None
            if "ids" in tr_g:
                ids = tr_g["ids"][()]
                if ids.dtype == object:
                    ids = np.array([_str(x) for x in ids])
            model = ModelState(
                config=config, specs=specs, params=params, ln_scatter=ln_s,
                z_train=lat["z_train"][()], prior_mean=lat["prior_mean"][()],
                prior_cov=lat["prior_cov"][()], model_error=model_err, map_cov=map_cov,
                model_error_trend=trend, error_scale=error_scale,
                error_uncertainty=error_unc, held_out=held_out,
                history=[(s, c) for s, c in json.loads(_str(tr_g.attrs["history"]))],
                selection=json.loads(_str(tr_g.attrs["selection"])),
                robust=json.loads(_str(tr_g.attrs.get("robust", "{}"))),
                train_ids=ids, version=_str(f.attrs.get("starlux_version", "")))
        except FileFormatError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise FileFormatError(f"{path}: corrupt or incomplete model file "
                                  f"({' '.join(str(exc).split()) or type(exc).__name__})"
                                  ) from None
    p = model.n_latents
    for name, pr in model.params.items():
        # the shapes the transform itself gives for this output and latent size
        expected = specs[name].transform.init(np.random.default_rng(0), p, specs[name].dim)
        for k, v in pr.items():
            want = np.shape(expected.get(k, v))
            if k in expected and v.shape != want and not (k == "b" and v.size == 0):
                raise FileFormatError(f"{path}: output {name!r} parameter {k!r} has shape "
                                      f"{v.shape}, expected {want}")
    for name, arrays in model.held_out.items():
        want = (model.z_train.shape[0], specs[name].dim)
        for k, v in arrays.items():
            if v.shape != want:
                raise FileFormatError(f"{path}: output {name!r} held_out/{k} has shape "
                                      f"{v.shape}, expected {want}")
    return model
