"""Helpers shared by the benchmark scripts (timing, peak memory, tables)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))  # run from a checkout


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    import jax

    dev = jax.devices()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node()} | {os.cpu_count()} CPUs | JAX {jax.__version__} on "
            f"{dev.platform}:{getattr(dev, 'device_kind', dev)} | load avg {load:.1f} | "
            f"{_dt.datetime.now().isoformat(timespec='minutes')}")


@contextmanager
def timer(out: dict, key: str):
    t0 = time.perf_counter()
    yield
    out[key] = time.perf_counter() - t0


def table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    """A Markdown table: ``cols`` = [(key, format spec)]."""
    head = "| " + " | ".join(k for k, _ in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(format(r[k], f) if isinstance(r.get(k), int | float) else
                              str(r.get(k, "")) for k, f in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])


# --- label-recovery helpers (public API only) -----------------------------------------

def fit_predict_labels(train, test, progress: bool = False, **lux_kw):
    """Train ``starlux.model.Lux(**lux_kw)`` on ``train``; labels of ``test`` from flux.

    Returns ``(label, model, seconds)``: the label prediction
    (:class:`starlux.prediction.OutputPrediction`: ``values``, ``errors``,
    ``statistical_var`` ...) and ``seconds = (train, predict)``.
    """
    from starlux.data import Dataset
    from starlux.model import Lux

    t0 = time.perf_counter()
    model = Lux(progress=progress, **lux_kw).fit(train)
    t1 = time.perf_counter()
    flux_only = Dataset(outputs={"flux": test["flux"]}, ids=test.ids)
    pred = model.predict(flux_only, inputs=["flux"])
    t2 = time.perf_counter()
    return pred["label"], model, (t1 - t0, t2 - t1)


def impute_flux(x_tr, miss_tr, x_te, miss_te):
    """Missing flux entries -> the training stars' per-pixel mean of observed entries."""
    import numpy as np

    obs = np.where(miss_tr, np.nan, x_tr)
    mu = np.nanmean(obs, axis=0)
    mu = np.where(np.isfinite(mu), mu, 1.0)
    return np.where(miss_tr, mu, x_tr), np.where(miss_te, mu, x_te)


def ridge_predict(train, test, alphas, standardize: bool = False):
    """RidgeCV flux -> label, one alpha per label chosen on the training set (GCV).

    The flux missing mask is the starlux Dataset's (entries starlux gives zero weight);
    those entries are replaced by the training per-pixel mean for both sets. Each label
    is fitted on the training stars where that label is observed. With ``standardize``
    each pixel is scaled to zero mean / unit variance on the training stars first.
    """
    import numpy as np
    from sklearn.linear_model import RidgeCV

    x_tr, x_te = impute_flux(train["flux"].values.astype(float), train["flux"].missing,
                             test["flux"].values.astype(float), test["flux"].missing)
    if standardize:
        mu, sd = x_tr.mean(0), x_tr.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    lab = train["label"]
    y, miss = lab.values, lab.missing
    out = np.empty((test.n, lab.dim))
    if not miss.any():
        reg = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x_tr, y)
        return reg.predict(x_te)
    for j in range(lab.dim):
        ok = ~miss[:, j]
        reg = RidgeCV(alphas=alphas).fit(x_tr[ok], y[ok, j])
        out[:, j] = reg.predict(x_te)
    return out


def label_stats(pred, err, truth, snr=None, ref_err=None) -> list[dict]:
    """Per label: RMSE, bias, std and 1/2-sigma coverage of (pred - truth) / sigma.

    ``sigma`` = ``err`` (the predicted errors), or sqrt(err^2 + ref_err^2) when the
    reference has its own errors (catalogue labels). With ``snr`` also the std of the
    standardised residuals in each SNR tercile (min and max over the three).
    Entries where ``truth`` is not finite are skipped.
    """
    import numpy as np

    sig = err if ref_err is None else np.sqrt(err**2 + ref_err**2)
    rows = []
    for j in range(pred.shape[1]):
        ok = np.isfinite(truth[:, j])
        r = pred[ok, j] - truth[ok, j]
        z = r / sig[ok, j]
        row = {"rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)),
               "zstd": float(np.std(z)), "cov1": float(np.mean(np.abs(z) < 1)),
               "cov2": float(np.mean(np.abs(z) < 2)), "n": int(ok.sum())}
        if snr is not None:
            s = np.asarray(snr)[ok]
            edges = np.quantile(s, [1 / 3, 2 / 3])
            bins = np.digitize(s, edges)
            stds = [float(np.std(z[bins == b])) for b in range(3)]
            row["tercile_zstd_min"], row["tercile_zstd_max"] = min(stds), max(stds)
        rows.append(row)
    return rows


def text_table(header: list[str], rows: list[list]) -> str:
    """Plain aligned text table (strings as given, numbers with 4 significant digits)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    w = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
         for i, h in enumerate(header)]
    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))

    lines = [line(header), "  ".join("-" * x for x in w)] + [line(r) for r in cells]
    return "\n".join(lines)


def json_default(x):
    """``json.dumps(default=...)`` for NumPy arrays and scalars in cached predictions."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.integer | np.floating):
        return x.item()
    raise TypeError(type(x))


def write_json(path, result: dict) -> None:
    """Write a benchmark's results as JSON (``path`` None: nothing) and say where."""
    if path is None:
        return
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
