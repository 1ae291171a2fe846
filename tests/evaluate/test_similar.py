"""Latent similarity search: distances and ranking (the command: tests/commands/test_similar.py)."""

from __future__ import annotations

import numpy as np
import pytest

from starlux import Dataset, Output
from starlux.data import DataError
from starlux.evaluate.similar import latent_distances, rank_similar
from starlux.model import Lux

from .helpers import make_latent


def test_each_latent_distance_metric_matches_its_formula():
    rng = np.random.default_rng(0)
    z, r = rng.normal(size=(6, 3)), rng.normal(size=(2, 3))
    e = latent_distances(z, r, "euclidean")
    np.testing.assert_allclose(e[1, 0], np.linalg.norm(z[1] - r[0]))
    cov = np.diag([4.0, 1.0, 0.25])
    m = latent_distances(z, r, "mahalanobis", cov=cov)
    d = z[2] - r[1]
    np.testing.assert_allclose(m[2, 1], np.sqrt(d @ np.linalg.inv(cov) @ d))
    zc = np.broadcast_to(np.eye(3), (6, 3, 3))
    rc = np.broadcast_to(np.eye(3), (2, 3, 3))
    np.testing.assert_allclose(latent_distances(z, r, "posterior", z_cov=zc, ref_cov=rc),
                               e / np.sqrt(2))
    with pytest.raises(ValueError):
        latent_distances(z, r, "mahalanobis")


def test_rank_similar_finds_the_twins_of_the_references():
    ds = make_latent(n=120, m=2, p=4, d=24, seed=2)
    model = Lux(latents=4, calibrate=False, progress=False).fit(ds)
    # a search set: 60 objects plus near-twins of objects 3 and 17 (tiny extra noise)
    rng = np.random.default_rng(1)
    f = ds["flux"]
    twins = f.values[[3, 17]] + 1e-3 * rng.normal(size=(2, f.dim))
    vals = np.concatenate([f.values[60:120], twins, f.values[[3, 17]]])
    errs = np.concatenate([f.errors[60:120], f.errors[[3, 17]], f.errors[[3, 17]]])
    ids = np.r_[ds.ids[60:120], ["twin-3", "twin-17", "ref-3", "ref-17"]]
    search = Dataset(outputs={"flux": Output.create(vals, errs, kind="spectrum")}, ids=ids)
    res = rank_similar(model, search, ["ref-3", "ref-17"], top=5)
    assert set(res.ids[:2]) == {"twin-3", "twin-17"}
    assert "ref-3" not in res.ids  # references are left out of the ranking
    assert dict(zip(res.ids[:2], res.nearest[:2], strict=True)) == {
        "twin-3": "ref-3", "twin-17": "ref-17"}
    assert np.all(np.diff(res.score) >= 0)
    post = rank_similar(model, search, ["ref-3"], metric="posterior", top=1)
    assert post.ids[0] == "twin-3"
    with pytest.raises(DataError, match="not in the dataset"):
        rank_similar(model, search, ["nope"])


def test_a_latent_index_ranks_as_rank_similar_does_and_restricts_to_candidates():
    from starlux.evaluate.similar import LatentIndex

    ds = make_latent(n=120, m=2, p=4, d=24, seed=2)
    model = Lux(latents=4, calibrate=False, progress=False).fit(ds)
    index = LatentIndex.build(model, ds)
    direct = rank_similar(model, ds, [ds.ids[3], ds.ids[17]])
    again = index.rank([ds.ids[3], ds.ids[17]])
    assert np.array_equal(direct.order, again.order)
    np.testing.assert_allclose(direct.score, again.score)
    some = index.rank([ds.ids[3]], candidates=np.arange(50, 60), top=4)
    assert set(some.order) <= set(range(50, 60)) and some.order.size == 4


def test_precision_at_k_counts_the_members_among_the_first_k():
    from starlux.evaluate.similar import precision_at_k

    member = np.array([True, False, True, False, False])
    assert precision_at_k(np.array([0, 2, 1, 3, 4]), member, [1, 2, 4, 10]) == {
        1: 1.0, 2: 1.0, 4: 0.5, 10: 0.4}
