"""Latent similarity search (paper §6.2.3): rank objects by their distance in latent space
to a set of reference objects (e.g. known chemically peculiar stars).

Latents are inferred from the chosen inputs (default: the spectra) with the trained
model. Distances (``metric``):

* ``"mahalanobis"`` (default): ``sqrt(d^T C^-1 d)`` with C the covariance of the
  training latents, so that every latent direction is measured against the spread of
  the training population;
* ``"euclidean"``: plain distance;
* ``"posterior"``: ``sqrt(d^T (C_a + C_b)^-1 d)`` with C_a, C_b the two objects'
  posterior latent covariances — the significance of the difference given both
  objects' noise (a noisy spectrum is not confidently far from anything).

An object's score is its distance to the nearest reference (``aggregate="min"``) or
the mean distance to all references (``"mean"``); smaller is more similar.

To search the same objects from many sets of references, infer their latents once
(:class:`LatentIndex`) and rank as often as needed; :func:`precision_at_k` scores a
ranking against known members (measured on real Gaia XP stars in
``benchmarks/bench_xp_similar.py``).

Command line (:mod:`starlux.commands.similar`): ``starlux similar MODEL DATA_FILE
--reference IDS_OR_FILE [--top K] --out FILE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import DataError, Dataset
from ..model import LuxModel

__all__ = ["latent_distances", "rank_similar", "SimilarResult", "resolve_reference",
           "METRICS", "LatentIndex", "precision_at_k"]

METRICS = ("mahalanobis", "euclidean", "posterior")


def latent_distances(z: np.ndarray, z_ref: np.ndarray, metric: str = "mahalanobis",
                     cov: np.ndarray | None = None, z_cov: np.ndarray | None = None,
                     ref_cov: np.ndarray | None = None, chunk: int = 4096) -> np.ndarray:
    """(N, R) distances between latents ``z`` (N, P) and ``z_ref`` (R, P).

    ``cov`` (P, P) is needed for ``"mahalanobis"``; ``z_cov`` (N, P, P) and ``ref_cov``
    (R, P, P) for ``"posterior"``.
    """
    z = np.asarray(z, float)
    z_ref = np.asarray(z_ref, float)
    if z.ndim != 2 or z_ref.ndim != 2 or z.shape[1] != z_ref.shape[1]:
        raise ValueError(f"latents must be (N, P) and (R, P); got {z.shape}, {z_ref.shape}")
    if metric == "euclidean":
        d2 = ((z[:, None, :] - z_ref[None, :, :]) ** 2).sum(-1)
        return np.sqrt(np.maximum(d2, 0))
    if metric == "mahalanobis":
        if cov is None:
            raise ValueError("mahalanobis distance needs the latent covariance 'cov'")
        # whiten with the Cholesky factor: d^T C^-1 d = |L^-1 d|^2
        chol = np.linalg.cholesky(np.asarray(cov, float))
        zw = np.linalg.solve(chol, z.T).T
        rw = np.linalg.solve(chol, z_ref.T).T
        d2 = ((zw[:, None, :] - rw[None, :, :]) ** 2).sum(-1)
        return np.sqrt(np.maximum(d2, 0))
    if metric == "posterior":
        if z_cov is None or ref_cov is None:
            raise ValueError("posterior distance needs z_cov and ref_cov")
        out = np.empty((z.shape[0], z_ref.shape[0]))
        for r in range(z_ref.shape[0]):
            for a in range(0, z.shape[0], chunk):
                d = z[a:a + chunk] - z_ref[r]
                c = z_cov[a:a + chunk] + ref_cov[r][None]
                x = np.linalg.solve(c, d[..., None])[..., 0]
                out[a:a + chunk, r] = np.sqrt(np.maximum((d * x).sum(-1), 0))
        return out
    raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


@dataclass
class SimilarResult:
    """Objects ranked by latent similarity to the references (most similar first).

    Attributes:
        order: (K,) indices into the searched dataset, most similar first.
        ids: (K,) their ids (or indices when the dataset has none).
        score: (K,) distance score (min or mean over references).
        nearest: (K,) id of the nearest reference of each.
        distances: (N, R) full distance matrix of the searched objects.
        reference_ids: (R,) ids of the references.
    """

    order: np.ndarray
    ids: np.ndarray
    score: np.ndarray
    nearest: np.ndarray
    distances: np.ndarray
    reference_ids: np.ndarray
    metric: str = "mahalanobis"

    def rows(self) -> list[dict]:
        return [{"rank": i + 1, "id": self.ids[i], "index": int(self.order[i]),
                 "score": float(self.score[i]), "nearest_reference": self.nearest[i]}
                for i in range(len(self.order))]

    def to_csv(self, path: str | Path) -> None:
        """Write rank, id, index, score, nearest_reference (atomically)."""
        from ..io.datasets import atomic_path

        with atomic_path(path) as tmp, open(tmp, "w") as fh:
            fh.write("rank,id,index,score,nearest_reference\n")
            for r in self.rows():
                fh.write(f"{r['rank']},{r['id']},{r['index']},{r['score']:.8g},"
                         f"{r['nearest_reference']}\n")


def _ids(ds: Dataset) -> np.ndarray:
    return np.asarray(ds.ids) if ds.ids is not None else np.arange(ds.n)


def resolve_reference(dataset: Dataset, reference: Sequence | np.ndarray) -> np.ndarray:
    """Indices into ``dataset`` of reference ids (or of integer indices when the
    dataset has no ids). Unknown ids raise a :class:`DataError` listing some."""
    ref = [r.strip() if isinstance(r, str) else r for r in list(reference)]
    if dataset.ids is None:
        try:
            idx = np.array([int(r) for r in ref], dtype=int)
        except (TypeError, ValueError):
            raise DataError("the dataset has no ids: give references as row indices") from None
        bad = idx[(idx < 0) | (idx >= dataset.n)]
        if bad.size:
            raise DataError(f"reference row(s) {bad[:5].tolist()} out of range 0..{dataset.n - 1}")
        return idx
    lookup = {str(v).strip(): i for i, v in enumerate(np.asarray(dataset.ids).tolist())}
    missing = [r for r in ref if str(r) not in lookup]
    if missing:
        shown = ", ".join(map(str, missing[:5]))
        raise DataError(f"{len(missing)} reference id(s) not in the dataset: {shown}"
                        f"{', ...' if len(missing) > 5 else ''}")
    return np.array([lookup[str(r)] for r in ref], dtype=int)


@dataclass
class LatentIndex:
    """The latents of a dataset's objects, inferred once, to be ranked by similarity to
    any number of reference sets (:meth:`rank`).

    Attributes:
        z: (N, P) latents (posterior means) inferred from ``inputs``.
        z_cov: (N, P, P) their posterior covariances.
        ids: (N,) the dataset's ids (row indices when it has none).
        prior_cov: (P, P) covariance of the training latents (the Mahalanobis metric).
        dataset: the searched dataset (reference ids are resolved against it).
    """

    z: np.ndarray
    z_cov: np.ndarray
    ids: np.ndarray
    prior_cov: np.ndarray
    dataset: Dataset

    @classmethod
    def build(cls, model: LuxModel, dataset: Dataset,
              inputs: Sequence[str] | None = None) -> LatentIndex:
        """Infer the latents of ``dataset``'s objects from ``inputs`` (default: the
        model's spectra)."""
        pred = model.predict(dataset, inputs=inputs, outputs=[])
        return cls(z=np.asarray(pred.z), z_cov=np.asarray(pred.z_cov), ids=_ids(dataset),
                   prior_cov=np.asarray(model.prior_cov), dataset=dataset)

    def rank(self, reference: Sequence | np.ndarray, *, metric: str = "mahalanobis",
             aggregate: str = "min", top: int | None = None,
             exclude_reference: bool = True,
             candidates: np.ndarray | None = None) -> SimilarResult:
        """Rank the indexed objects by latent distance to the reference objects
        (ids, or row indices when the dataset has none), most similar first.

        ``candidates`` (row indices) restricts the ranking to those objects.
        """
        _check(metric, aggregate)
        ref_idx = resolve_reference(self.dataset, reference)
        if ref_idx.size == 0:
            raise DataError("no reference objects given")
        return self._rank(self.z[ref_idx], self.z_cov[ref_idx], self.ids[ref_idx],
                          ref_idx if exclude_reference else np.array([], int),
                          metric, aggregate, top, candidates)

    def _rank(self, z_ref: np.ndarray, c_ref: np.ndarray, ref_ids: np.ndarray,
              exclude: np.ndarray, metric: str, aggregate: str, top: int | None,
              candidates: np.ndarray | None = None) -> SimilarResult:
        dist = latent_distances(self.z, z_ref, metric, cov=self.prior_cov, z_cov=self.z_cov,
                                ref_cov=c_ref)
        score = dist.min(axis=1) if aggregate == "min" else dist.mean(axis=1)
        nearest = np.asarray(ref_ids)[np.argmin(dist, axis=1)]
        cand = np.arange(self.z.shape[0]) if candidates is None \
            else np.unique(np.asarray(candidates, int))
        if exclude.size:
            cand = np.setdiff1d(cand, exclude)
        order = cand[np.argsort(score[cand], kind="stable")]
        if top is not None:
            order = order[: max(0, int(top))]
        return SimilarResult(order=order, ids=self.ids[order], score=score[order],
                             nearest=nearest[order], distances=dist,
                             reference_ids=np.asarray(ref_ids), metric=metric)


def _check(metric: str, aggregate: str) -> None:
    if aggregate not in ("min", "mean"):
        raise ValueError(f"unknown aggregate {aggregate!r}; use 'min' or 'mean'")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {METRICS}")


def rank_similar(model: LuxModel, dataset: Dataset,
                 reference: Sequence | np.ndarray | Dataset, *,
                 inputs: Sequence[str] | None = None, metric: str = "mahalanobis",
                 aggregate: str = "min", top: int | None = None,
                 exclude_reference: bool = True) -> SimilarResult:
    """Rank the objects of ``dataset`` by latent distance to the reference objects.

    Args:
        reference: ids (or row indices) of objects in ``dataset``, or a separate
            :class:`Dataset` of reference objects.
        inputs: outputs to infer latents from (default: the spectra).
        metric: ``"mahalanobis"`` (training latent covariance), ``"euclidean"`` or
            ``"posterior"`` (both objects' latent uncertainties).
        aggregate: ``"min"`` (nearest reference) or ``"mean"`` (all references).
        top: keep the ``top`` most similar (default all).
        exclude_reference: leave reference objects that are in ``dataset`` out of
            the ranking.
    """
    _check(metric, aggregate)
    if not isinstance(reference, Dataset):  # unknown ids are found before any inference
        ref_idx = resolve_reference(dataset, reference)
        if ref_idx.size == 0:
            raise DataError("no reference objects given")
    index = LatentIndex.build(model, dataset, inputs)
    if isinstance(reference, Dataset):
        rpred = model.predict(reference, inputs=inputs, outputs=[])
        return index._rank(np.asarray(rpred.z), np.asarray(rpred.z_cov), _ids(reference),
                           np.array([], int), metric, aggregate, top)
    return index.rank(reference, metric=metric, aggregate=aggregate, top=top,
                      exclude_reference=exclude_reference)


def precision_at_k(order: np.ndarray, member: np.ndarray, ks: Sequence[int]
                   ) -> dict[int, float]:
    """Fraction of the first k ranked objects that are members, for each k.

    Args:
        order: (K,) row indices, most similar first (:attr:`SimilarResult.order`).
        member: (N,) True for the objects that count as hits (the class searched for).
        ks: the cut-offs; a k beyond the ranking uses the whole ranking.

    A random ranking of the same candidates scores the members' fraction among them
    at every k, in expectation.
    """
    hits = np.asarray(member, bool)[np.asarray(order, int)]
    return {int(k): float(hits[:k].mean()) if hits[:k].size else float("nan") for k in ks}
