"""Similarity search on real Gaia XP spectra (paper §6.2.3), measured: from a few
reference stars, rank held-out stars by latent distance and count how many of the
first k are of the reference stars' kind.

Data: ``../shared/data/gaiaxp-apogee-dr17`` (:func:`bench_xp.sample_rows` sample
``all``, 3,000 < TEFF < 7,000 K: 35,964 stars) and the OCCAM DR17 open-cluster members
(``../shared/data/apogee-clusters/occam_member-DR17.fits``, Myers et al. 2022),
``CG_PROB > 0.5``, matched on the APOGEE id. Two kinds of target, whose labels and
spectra no model here sees in training:

* ``metal-poor``: APOGEE [Fe/H] < -1.5 (1,649 stars);
* ``cluster``: the members of each open cluster with at least ``--min-members`` stars
  in the sample (the others are searched as field stars): the sample holds 140 OCCAM
  members of 45 clusters, and 5 clusters have 10 or more (66 stars).

Seed ``s`` (``--seeds``, default 0 1 2): ``--n-train`` (20,000) random non-target stars
train ``Lux()`` with every default on flux + APOGEE labels; the search set is every
other star of the sample: the remaining field stars and all targets, flux only. Then
``--trials`` times per target kind (per cluster for clusters), ``--n-ref`` (3) random
target stars are the references and the rest of the search set is ranked, by

* ``latent``: ``starlux similar``'s default, the Mahalanobis distance of the latents
  inferred from the flux (:class:`starlux.evaluate.similar.LatentIndex`), nearest
  reference;
* ``latent (posterior)``: the ``--metric posterior`` distance (both stars' latent
  uncertainties);
* ``labels``: Euclidean distance of the four labels starlux predicts from the flux,
  each divided by its training scale (the "labels first, then search" approach);
* ``flux``: plain Euclidean distance of the median-normalised XP spectra;
* ``random``: a random order (its expected precision is the targets' fraction).

Reported per kind: precision at k (the fraction of the first k that are targets of
that kind, or members of that cluster) for k in ``--ks``, and the average precision
over the whole ranking, means over trials and seeds with the seed-to-seed spread.

Usage::

    python benchmarks/bench_xp_similar.py --json benchmarks/results/xp_similar.json \\
        --figure benchmarks/results/xp_similar.png
    python benchmarks/bench_xp_similar.py --n-train 2000 --seeds 0 --trials 3   # plumbing

Models are saved under ``--work`` and reused.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine, write_json
from bench_xp import DATA, sample_rows

import starlux
from starlux.config import enable_compilation_cache
from starlux.data import Dataset
from starlux.evaluate.similar import LatentIndex, precision_at_k

OCCAM = DATA.parents[1] / "apogee-clusters" / "occam_member-DR17.fits"
LABELS = ["teff", "logg", "fe_h", "alpha_m"]
FEH_POOR = -1.5
METHODS = ("latent", "latent (posterior)", "labels", "flux", "random")


def cluster_members(ds: Dataset, path: Path, min_prob: float = 0.5) -> np.ndarray:
    """(N,) OCCAM DR17 cluster name of each star with CG_PROB > ``min_prob`` ('' for
    the others), matched on the APOGEE id."""
    from astropy.table import Table

    t = Table.read(path)
    ap = np.char.strip(np.asarray(t["APOGEE_ID"]).astype(str))
    name = np.char.strip(np.asarray(t["CLUSTER"]).astype(str))
    prob = np.asarray(t["CG_PROB"], float)
    member = dict(zip(ap[prob > min_prob], name[prob > min_prob], strict=True))
    ids = np.char.strip(np.asarray(ds.extras["apogee_id"]).astype(str))
    return np.array([member.get(a, "") for a in ids])


def average_precision(order: np.ndarray, member: np.ndarray) -> float:
    """Mean over the members in ``order`` of the precision at each member's rank."""
    hits = np.asarray(member, bool)[order]
    if not hits.any():
        return float("nan")
    ranks = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, ranks.size + 1) / ranks))


def _nearest(x: np.ndarray, ref: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(N,) Euclidean distance of each row of ``x`` to its nearest row of ``ref``."""
    out = np.empty(x.shape[0])
    r2 = np.sum(ref ** 2, axis=1)
    for a in range(0, x.shape[0], chunk):
        xa = x[a:a + chunk]
        d2 = np.sum(xa ** 2, axis=1)[:, None] - 2 * xa @ ref.T + r2[None, :]
        out[a:a + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0))
    return out


def rankings(index: LatentIndex, labels: np.ndarray, flux: np.ndarray, ref: np.ndarray,
             cand: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The candidates ``cand`` in order of similarity to the rows ``ref``, by method."""
    ids = [index.ids[i] for i in ref]
    out = {"latent": index.rank(ids, candidates=cand).order,
           "latent (posterior)": index.rank(ids, metric="posterior", candidates=cand).order}
    for name, x in (("labels", labels), ("flux", flux)):
        score = _nearest(x[cand], x[ref])
        out[name] = cand[np.argsort(score, kind="stable")]
    out["random"] = rng.permutation(cand)
    return out


def run_seed(ds: Dataset, rows: np.ndarray, kind: dict[str, np.ndarray], seed: int,
             args: argparse.Namespace) -> dict:
    """One model and the trials of every target kind."""
    target = np.zeros(ds.n, bool)
    for m in kind.values():
        target |= m
    field = rows[~target[rows]]
    rng = np.random.default_rng(seed)
    train = np.sort(rng.permutation(field)[:args.n_train])
    pool = np.setdiff1d(rows, train)
    path = args.work / f"similar_{args.n_train}_{seed}.h5"
    t0 = time.perf_counter()
    if path.exists():
        model = starlux.load_model(path)
    else:
        model = starlux.Lux(progress=False).fit(ds.take(train))
        model.save(path)
    train_s = time.perf_counter() - t0
    search = ds.take(pool).with_outputs(["flux"])  # labels held out
    index = LatentIndex.build(model, search)
    pred = model.predict(search, inputs=["flux"], outputs=["label"])["label"].values
    spec = model.specs["label"]
    labels = (pred - np.asarray(spec.center)) / np.asarray(spec.scale)
    f = search["flux"]
    med = np.nanmedian(np.where(f.missing, np.nan, f.values), axis=0)
    flux = np.where(f.missing, med[None, :], f.values).astype(np.float64)
    res: dict = {"seed": seed, "n_train": int(train.size), "n_search": int(pool.size),
                 "train_s": train_s, "latents": model.n_latents, "kinds": {}}
    for name, member_all in kind.items():
        member = member_all[pool]
        where = np.flatnonzero(member)
        trials: dict[str, dict[str, list[float]]] = {m: {"ap": []} for m in METHODS}
        base = []
        for _ in range(args.trials):
            ref = np.sort(rng.choice(where, args.n_ref, replace=False))
            cand = np.setdiff1d(np.arange(pool.size), ref)
            base.append(float(member[cand].mean()))
            for m, order in rankings(index, labels, flux, ref, cand, rng).items():
                for k, v in precision_at_k(order, member, args.ks).items():
                    trials[m].setdefault(f"p@{k}", []).append(v)
                trials[m]["ap"].append(average_precision(order, member))
        res["kinds"][name] = {
            "n_targets": int(where.size), "base_rate": float(np.mean(base)),
            "methods": {m: {k: float(np.mean(v)) for k, v in t.items()}
                        for m, t in trials.items()}}
        r = res["kinds"][name]["methods"]
        print(f"seed {seed} {name} ({where.size} in {pool.size}; random {np.mean(base):.4f}): "
              + "  ".join(f"{m} p@{args.ks[1]} {r[m][f'p@{args.ks[1]}']:.3f} AP "
                          f"{r[m]['ap']:.3f}" for m in METHODS), flush=True)
    return res


def summarise(per_seed: list[dict]) -> dict:
    """Means over seeds (and their spread) per kind, method and metric; clusters also
    pooled (the mean over clusters)."""
    out: dict = {}
    kinds = list(per_seed[0]["kinds"])
    for name in kinds:
        rows = [s["kinds"][name] for s in per_seed]
        methods = {}
        for m in METHODS:
            keys = rows[0]["methods"][m].keys()
            methods[m] = {k: {"mean": float(np.mean([r["methods"][m][k] for r in rows])),
                              "seeds": [r["methods"][m][k] for r in rows]} for k in keys}
        out[name] = {"n_targets": rows[0]["n_targets"],
                     "base_rate": float(np.mean([r["base_rate"] for r in rows])),
                     "methods": methods}
    clusters = [k for k in kinds if k.startswith("cluster:")]
    if clusters:
        methods = {}
        for m in METHODS:
            keys = out[clusters[0]]["methods"][m].keys()
            methods[m] = {k: {"mean": float(np.mean([out[c]["methods"][m][k]["mean"]
                                                     for c in clusters])),
                              "seeds": [float(np.mean([s["kinds"][c]["methods"][m][k]
                                                       for c in clusters]))
                                        for s in per_seed]} for k in keys}
        out["clusters (mean)"] = {
            "n_clusters": len(clusters), "clusters": [c[8:] for c in clusters],
            "n_targets": int(sum(out[c]["n_targets"] for c in clusters)),
            "base_rate": float(np.mean([out[c]["base_rate"] for c in clusters])),
            "methods": methods}
    return out


def figure(path: Path, summary: dict, ks: list[int], title: str) -> None:
    """Precision at k against k: metal-poor stars, and the clusters' mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("metal-poor", "clusters (mean)") if k in summary]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 5.0),
                             squeeze=False, constrained_layout=True)
    style = {"latent": ("C0", "-", "o"), "latent (posterior)": ("C0", "--", "s"),
             "labels": ("C2", "-", "^"), "flux": ("C1", "-", "D"),
             "random": ("0.4", ":", "")}
    for ax, name in zip(axes[0], panels, strict=True):
        s = summary[name]
        for m in METHODS:
            c, ls, mk = style[m]
            y = np.array([s["methods"][m][f"p@{k}"]["mean"] for k in ks])
            lo = np.array([min(s["methods"][m][f"p@{k}"]["seeds"]) for k in ks])
            hi = np.array([max(s["methods"][m][f"p@{k}"]["seeds"]) for k in ks])
            ax.plot(ks, y, ls=ls, marker=mk, color=c, ms=4,
                    label=f"{m} (AP {s['methods'][m]['ap']['mean']:.3f})")
            ax.fill_between(ks, lo, hi, color=c, alpha=0.15, lw=0)
        ax.axhline(s["base_rate"], color="k", lw=0.6, ls=":",
                   label=f"targets' fraction {s['base_rate']:.2g} (random's expectation)")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("k (first k of the ranking)")
        ax.set_ylabel("precision at k (fraction of targets)")
        ax.set_ylim(0, 1.02 if name == "metal-poor" else None)
        what = (f"[Fe/H] < {FEH_POOR} (APOGEE), {s['n_targets']} stars"
                if name == "metal-poor" else
                f"open-cluster members (OCCAM DR17): mean of {s['n_clusters']} "
                f"clusters, {s['n_targets']} stars")
        ax.set_title(what, fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--occam", type=Path, default=OCCAM)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-ref", type=int, default=3)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--min-members", type=int, default=10)
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 10, 25, 50, 100, 200])
    ap.add_argument("--work", type=Path, default=Path("bench-out/xp_similar"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args(argv)
    enable_compilation_cache()
    args.work.mkdir(parents=True, exist_ok=True)

    ds = starlux.read_xp(args.data, labels=LABELS)
    rows = sample_rows(ds, "all")
    lab = ds["label"]
    feh = np.where(lab.missing, np.nan, lab.values)[:, LABELS.index("fe_h")]
    in_sample = np.zeros(ds.n, bool)
    in_sample[rows] = True
    with np.errstate(invalid="ignore"):
        kind = {"metal-poor": in_sample & (feh < FEH_POOR)}
    cl = cluster_members(ds, args.occam)
    names, counts = np.unique(cl[rows][cl[rows] != ""], return_counts=True)
    for c, n in zip(names, counts, strict=True):
        if n >= args.min_members:
            kind[f"cluster:{c}"] = in_sample & (cl == c)
    occam_in = int((cl[rows] != "").sum())
    print(f"{rows.size} stars; metal-poor {int(kind['metal-poor'].sum())}; OCCAM members "
          f"{occam_in} in {names.size} clusters, searched: "
          + ", ".join(f"{k[8:]} ({int(v.sum())})" for k, v in kind.items()
                      if k.startswith("cluster:")), flush=True)
    per_seed = [run_seed(ds, rows, kind, s, args) for s in args.seeds]
    summary = summarise(per_seed)
    results = {"machine": machine(), "data": args.data.name, "occam": args.occam.name,
               "n_sample": int(rows.size), "occam_members_in_sample": occam_in,
               "n_train": args.n_train, "n_ref": args.n_ref, "trials": args.trials,
               "ks": args.ks, "seeds": per_seed, "summary": summary}
    print(report(results))
    if args.json is not None:
        write_json(args.json, results)
    if args.figure is not None:
        figure(args.figure, summary, args.ks,
               f"Similarity search on Gaia XP spectra: {args.n_ref} reference stars, "
               f"{args.trials} trials x {len(args.seeds)} seeds "
               f"({args.n_train:,} training stars, targets held out); "
               f"shaded: range over seeds")
    return 0


def report(results: dict) -> str:
    ks = results["ks"]
    lines = []
    for name, s in results["summary"].items():
        lines.append(f"\n{name}: {s['n_targets']} targets, random precision "
                     f"{s['base_rate']:.4f}\n")
        lines.append("| method | " + " | ".join(f"p@{k}" for k in ks) + " | AP |")
        lines.append("|---|" + "---|" * (len(ks) + 1))
        for m, r in s["methods"].items():
            lines.append(f"| {m} | " + " | ".join(f"{r[f'p@{k}']['mean']:.3f}" for k in ks)
                         + f" | {r['ap']['mean']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
