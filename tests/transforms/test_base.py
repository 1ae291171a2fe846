"""The Transform interface: a transform defined by ``init`` and ``apply`` alone trains,
predicts, saves and loads through the same code as the linear map."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest

from starlux.model import Lux, LuxModel
from starlux.transforms import TRANSFORMS, LinearTransform, Transform, make_transform
from tests.conftest import make_bilinear


class Affine(Transform):
    """``y = z W^T + b`` written as a generic transform: no exact solves, no parameter
    covariance; everything else is the base class's autodiff defaults."""

    name: ClassVar[str] = "test-affine"

    def init(self, rng, n_latents, dim):
        return {"W": jnp.asarray(rng.random((dim, n_latents))), "b": jnp.zeros(dim)}

    def apply(self, params, z):
        return z @ params["W"].T + params["b"]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TRANSFORMS, Affine.name, Affine)


def test_the_generic_jacobian_and_pullback_match_the_linear_ones():
    rng = np.random.default_rng(0)
    params = LinearTransform().init(rng, 3, 5)
    z = jnp.asarray(rng.normal(size=(4, 3)))
    v = jnp.asarray(rng.normal(size=(4, 5)))
    generic, linear = Affine(), LinearTransform()
    np.testing.assert_allclose(generic.jacobian(params, z), linear.jacobian(params, z))
    np.testing.assert_allclose(generic.pullback(params, z, v), linear.pullback(params, z, v))
    w = jnp.asarray(rng.random((4, 5)))
    y = jnp.asarray(rng.normal(size=(4, 5)))
    for a, b in zip(generic.latent_system(params, z, y, w), linear.latent_system(params, z, y, w),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_the_generic_parameter_fit_streams_over_blocks_and_solves_least_squares():
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.normal(size=(300, 3)))
    w_true, b_true = rng.normal(size=(4, 3)), rng.normal(size=4)
    y = z @ w_true.T + b_true
    tr = Affine()
    params = tr.init(np.random.default_rng(2), 3, 4)
    # blocks of 64 objects: the loss is a scan over 5 blocks (the last one padded)
    fitted, chi2 = tr.fit_params(params, z, y, jnp.ones_like(y), chunk_size=64, max_iter=60)
    np.testing.assert_allclose(fitted["W"], w_true, atol=1e-5)
    np.testing.assert_allclose(fitted["b"], b_true, atol=1e-5)
    assert chi2 < 1e-8


def test_a_transform_from_init_and_apply_alone_trains_and_predicts_like_the_linear_map(
        registered, tmp_path):
    ds, truth = make_bilinear(n=240, d=20, noise=0.005, label_noise=0.02, seed=4)
    train, test = ds.take(np.arange(200)), ds.take(np.arange(200, 240))
    settings = dict(latents=5, reg=10.0, progress=False, calibrate=False)
    linear = Lux(**settings).fit(train)
    generic = Lux(**settings, transforms={"flux": Affine(), "label": "test-affine"}).fit(train)
    assert generic.specs["flux"].transform == Affine()
    p_lin, p_gen = linear.predict(test), generic.predict(test)
    truth_test = truth["labels"][200:]
    rmse = lambda p: np.sqrt(np.mean((p["label"].values - truth_test) ** 2, axis=0))  # noqa: E731
    spread = np.std(truth_test, axis=0)
    # both recover the labels far better than their spread, and about equally well
    assert np.all(rmse(p_gen) < 0.2 * spread)
    assert np.all(rmse(p_gen) < 1.5 * rmse(p_lin) + 0.01 * spread)
    assert np.all(np.isfinite(p_gen["label"].errors)) and np.all(p_gen["label"].errors > 0)
    # the configured transform is saved and loaded with the model
    path = tmp_path / "affine.h5"
    generic.save(path)
    again = LuxModel.load(path)
    assert again.specs["flux"].transform == Affine()
    assert dict(again.config.transforms)["flux"] == Affine()
    np.testing.assert_allclose(again.predict(test)["label"].values, p_gen["label"].values,
                               rtol=1e-10)


def test_transform_names_are_parsed_with_their_options_and_unknown_ones_rejected():
    assert make_transform("linear") == LinearTransform()
    with pytest.raises(ValueError, match="unknown transform 'spline'"):
        make_transform("spline")
    with pytest.raises(ValueError, match="takes no options"):
        make_transform("linear:3")
    with pytest.raises(ValueError, match="transforms"):
        Lux(transforms={"flux": "spline"})


def test_transforms_are_equal_and_hash_alike_when_their_configuration_is():
    assert Affine() == Affine() and hash(Affine()) == hash(Affine())
    assert Affine() != LinearTransform()
    assert len({Affine(), Affine(), LinearTransform()}) == 2
