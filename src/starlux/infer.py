"""Inference: latents for objects from any subset of outputs, then predictions.

The latents of each object are solved by :func:`starlux.latents.solve_block` (exact for
linear transforms, Gauss–Newton otherwise) from the chosen inputs and the latent prior
(the training penalty 2 Omega I with mu = 0, or a Gaussian fitted to the training
latents). The left-hand matrix of that solve is the posterior precision (Fisher
information plus prior); each output transform propagates it into the predicted
outputs' covariances. A per-label model-error term learned during training is added in
quadrature (kept separately in :class:`OutputPrediction`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from .covariance import drop as drop_weights
from .covariance import excess, input_precision, observed, solve_data
from .data import DataError, Dataset
from .error_model import model_error_at
from .latents import drop_entries, latent_caches, prior_terms, solve_block, solve_latents
from .linalg import cho_inverse, resolve_precision
from .prediction import (
    OutputPrediction,
    Prediction,
    concat_predictions,
    objects_without_data,
    warn_objects_without_data,
)
from .sampling import (
    check_sampler,
    gaussian_deviations,
    nuts_deviations,
    object_keys,
    output_samples,
)
from .units import CLIP_SIGMA, ColumnLimits, Prepared, model_units

if TYPE_CHECKING:
    from .spec import ModelState

__all__ = ["Prediction", "OutputPrediction", "predict", "BlockPredictor",
           "concat_predictions", "resolve_io", "predict_prepared", "natural_output",
           "single_threaded_blas", "aligned_empty"]


def resolve_io(model: ModelState, dataset: Dataset, inputs: Sequence[str] | None,
                outputs: Sequence[str] | None) -> tuple[list[str], list[str]]:
    if inputs is None:
        inputs = [k for k in model.spectral_outputs if k in dataset]
        if not inputs:
            inputs = [k for k in model.output_names if k in dataset]
    inputs = list(inputs)
    if not inputs:
        raise DataError("no input outputs to infer latents from")
    for k in inputs:
        if k not in model.specs:
            raise DataError(f"unknown input {k!r}; the model's outputs are {model.output_names}")
        if k not in dataset:
            raise DataError(f"dataset has no output {k!r} to infer latents from")
    if outputs is None:
        outputs = model.label_outputs + [k for k in model.spectral_outputs if k not in inputs]
    outputs = list(outputs)
    for k in outputs:
        if k not in model.specs:
            raise DataError(f"unknown output {k!r}; the model's outputs are {model.output_names}")
    model.check_compatible(dataset, inputs)
    return inputs, outputs


def predict(
    model: ModelState,
    dataset: Dataset,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    prior: str | None = None,
    chunk_size: int | None = None,
    precision: str = "auto",
    samples: int = 0,
    sampler: str = "gaussian",
    seed: int = 0,
) -> Prediction:
    """Infer latents from ``inputs`` (default: the spectra) and predict ``outputs``.

    Args:
        model: a trained :class:`LuxModel`.
        dataset: objects to process; must contain the ``inputs`` outputs.
        inputs: output names to infer latents from (``["flux"]``, ``["label"]``, both).
        outputs: output names to predict (default: every label output, plus spectra
            not used as inputs).
        prior: latent prior at inference (default: the model's ``config.prior``).
        chunk_size: objects per block (bounds memory).
        precision: ``"auto"`` / ``"float32"`` / ``"float64"``, see
            :func:`starlux.linalg.resolve_precision`.
        samples: draw this many posterior samples per object of every predicted
            output (``pred[name].samples``, (N, K, D), natural units, model error
            included: their spread matches ``errors``); 0 for none.
        sampler: ``"gaussian"`` (exact for linear transforms, Laplace otherwise) or
            ``"nuts"`` (numpyro's No-U-Turn sampler); see :mod:`starlux.sampling`.
        seed: seed of the samples (same seed, same samples, whatever ``chunk_size``).

    For files larger than memory use :func:`starlux.stream.predict_file`, which runs
    the same per-block computation (:class:`BlockPredictor`).
    """
    inputs, outputs = resolve_io(model, dataset, inputs, outputs)
    chunk = chunk_size or model.config.chunk_size
    if chunk < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk}")
    bp = BlockPredictor(model, inputs, outputs, prior=prior, precision=precision,
                        samples=samples, sampler=sampler, seed=seed)
    parts = [bp.predict_dataset_rows(dataset, slice(a, min(a + chunk, dataset.n)), chunk)
             for a in range(0, dataset.n, chunk)]
    if not parts:  # no objects: run one empty block for the shapes
        parts = [bp.predict_dataset_rows(dataset, slice(0, 0), chunk)]
    pred = concat_predictions(parts, ids=dataset.ids)
    warn_objects_without_data(objects_without_data(pred.n_used), pred.n, inputs)
    return pred


# --- per-block prediction ------------------------------------------------------------


def _output_values(z, chol, out_params, out_tr, out_full):
    """Each output's values and (co)variances from the latents and the Cholesky factor
    of their posterior precision (labels: full covariances)."""
    outs = []
    for tr, pa, full in zip(out_tr, out_params, out_full, strict=True):
        vals = tr.apply(pa, z)
        if full:
            fc = tr.propagate_posterior(pa, z, chol, full=True)
            outs.append((vals, jnp.diagonal(fc, axis1=1, axis2=2), fc))
        else:
            outs.append((vals, tr.propagate_posterior(pa, z, chol), None))
    return tuple(outs)


def _reject_pixels(transforms: Sequence[Any], params: Sequence[Any],
                   data: Sequence[tuple[jax.Array, jax.Array]], z: jax.Array,
                   chi: Sequence[jax.Array], spectra: Sequence[tuple[bool, bool]], clip: float,
                   ) -> tuple[list[jax.Array | None], list[jax.Array | None]]:
    """Per input, the (n, D_k) spectral-input pixels whose residual at ``z`` exceeds
    ``clip`` times the calibrated noise (times the object's own rms residual when that
    is above 1), and the (n, D_k) residuals there; ``None`` for other inputs."""
    rejected, resid = [], []
    for tr, pa, (y, w), ck, sp in zip(transforms, params, data, chi, spectra, strict=True):
        if not sp[0]:
            rejected.append(None)
            resid.append(None)
            continue
        used_k = jnp.maximum(jnp.sum(observed(w), axis=1, dtype=jnp.int32), 1)
        level = clip**2 * jnp.maximum(1.0, ck / used_k)
        r = y.astype(w.dtype) - tr.apply(pa, z)
        rejected.append(observed(w) & (excess(w, r) > level[:, None]))
        resid.append(r)
    return rejected, resid


@partial(jax.jit, static_argnames=("in_tr", "spectra", "out_tr", "out_full", "n_refine",
                                   "want_cov", "clip", "keep_data"))
def _predict_block(in_params, caches, raws, consts, prec, mean, out_params, covs=None, *, in_tr,
                   spectra, out_tr, out_full, n_refine, want_cov, clip, keep_data=False):
    """Everything for one block of objects: model units, latents, clipping, outputs.

    ``raws[k]`` = (values, errors, missing or None) of input k, ``consts[k]`` = (centre,
    scale, ln scatter or None, screening limits or None). With ``clip``, pixels of
    spectral inputs whose residual at the solution exceeds ``clip`` times the
    calibrated noise get zero weight (cosmic rays, bad pixels with ordinary errors)
    and leave the solution (:func:`~starlux.latents.drop_entries`: a rank update of
    the stars that lost a few, a new solve of those that lost many). Returns latents,
    their covariances (``None`` unless ``want_cov``), chi^2, used and rejected counts
    per input, the outputs in model units, the Cholesky factor of the posterior
    precision, and (with ``keep_data``, else ``None``) the inputs in model units,
    ``(y, w)`` after clipping.
    """
    prepared = [model_units(*r, *c, *sp) for r, c, sp in zip(raws, consts, spectra, strict=True)]
    data = [(y, w) for y, w, _ in prepared]
    if covs is not None:  # inputs with correlated errors: their per-object precisions
        data = [yw if cv is None else (yw[0], input_precision(cv, r, c, sp))
                for yw, cv, r, c, sp in zip(data, covs, raws, consts, spectra, strict=True)]
    n, p = data[0][0].shape[0], prec.shape[0]
    z0 = jnp.broadcast_to(mean, (n, p)).astype(jnp.float64)
    z, chol, chi = solve_block(in_tr, in_params, caches, data, z0, prec, mean,
                               n_refine=n_refine)
    rejected = [o for _, _, o in prepared]
    # observed entries per object (an int32 sum: int64 made XLA materialise an (n, D)
    # int64 array first, 10x slower)
    used = [jnp.sum(observed(w), axis=1, dtype=jnp.int32) for _, w in data]
    if clip is not None and any(sp[0] for sp in spectra):
        # the rejected pixels leave each star's solution by a rank update, not a second
        # solve of the block (drop_entries)
        drop, resid = _reject_pixels(in_tr, in_params, data, z, chi, spectra, clip)
        z, chol, chi = drop_entries(in_tr, in_params, caches, data, drop, resid,
                                    (z, chol, chi), z0, prec, mean, n_refine=n_refine)
        newly = [jnp.zeros(n, jnp.int32) if d is None else jnp.sum(d, axis=1, dtype=jnp.int32)
                 for d in drop]
        rejected = [a + b for a, b in zip(rejected, newly, strict=True)]
        used = [u - b for u, b in zip(used, newly, strict=True)]
        if keep_data:
            data = [(y, w) if d is None else (y, drop_weights(w, d))
                    for (y, w), d in zip(data, drop, strict=True)]
    used = tuple(used)
    outs = _output_values(z, chol, out_params, out_tr, out_full)
    cov = cho_inverse(chol) if want_cov else None
    return (z, cov, tuple(chi), used, tuple(rejected), outs, chol,
            tuple(data) if keep_data else None)


_BLAS_CONTROLLER: Any = None


def single_threaded_blas() -> Any:
    """A context in which OpenBLAS (which JAX's CPU LAPACK kernels — Cholesky, triangular
    solves — call once per small matrix of a batch) runs single-threaded.

    Its threads help nothing at P x P = 48 x 48 and, when the cores are busy, their
    spin-waiting made a batch of 1,024 Cholesky inverses 50-100x slower (8 s instead of
    0.1 s) on the 2-core development machine. XLA's own matrix products are unaffected.
    """
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the work is the same, only slower
        return contextlib.nullcontext()
    if _BLAS_CONTROLLER is None:
        import scipy.linalg.cython_lapack  # noqa: F401  (what JAX loads on first use)

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _padded_rows(n: int, chunk: int) -> int:
    """Rows a block of ``n`` objects is padded to (fewer distinct shapes to compile)."""
    if n >= chunk:
        return n
    return min(chunk, max(8, 1 << max(n - 1, 0).bit_length()))


Raw = tuple  # (values, errors, missing or None[, covariance or None])
"""One input for one block: (values, errors, missing mask or None to apply the rules),
and optionally the (n, D, D) error covariance in natural units (correlated errors: the
full likelihood, :mod:`starlux.covariance`)."""


class BlockPredictor:
    """The per-block prediction of one model with fixed inputs, outputs, prior and
    precision. Built once and applied to any number of blocks of objects (the model's
    constants stay on the JAX device); :func:`predict` and
    :func:`starlux.stream.predict_file` both use it, serially or on Dask workers.

    Args:
        model: the trained model.
        inputs, outputs: resolved output names (see :func:`predict`).
        prior: latent prior (default: the model's).
        precision: ``"auto"`` / ``"float32"`` / ``"float64"`` (:func:`resolve_precision`).
        want_cov: compute the (n, P, P) latent covariances ``Prediction.z_cov`` (``False``:
            ``z_cov`` is ``None``; the outputs' covariances are computed either way).
        clip: reject pixels of spectral inputs whose residual exceeds this many times
            the calibrated noise, then solve again (``None``: keep every pixel);
            default: the model's ``config.clip``. ``Prediction.n_rejected`` counts the
            pixels rejected per object (clipped or screened as gross outliers).
        samples, sampler, seed: draw ``samples`` posterior samples per object of every
            output (``OutputPrediction.samples``), with the ``"gaussian"`` (exact /
            Laplace) or ``"nuts"`` sampler (:mod:`starlux.sampling`).
    """

    def __init__(self, model: ModelState, inputs: Sequence[str], outputs: Sequence[str],
                 prior: str | None = None, precision: str = "auto", want_cov: bool = True,
                 clip: float | None | str = "model", samples: int = 0,
                 sampler: str = "gaussian", seed: int = 0):
        self.model = model
        self.samples, self.sampler = check_sampler(samples, sampler)
        self.seed = int(seed)
        # residual clipping of spectral inputs: the model's setting unless given
        self.clip = getattr(model.config, "clip", CLIP_SIGMA) if clip == "model" else clip
        self.want_cov = want_cov
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.precision = resolve_precision(precision)
        self.params = {k: jax.tree_util.tree_map(jnp.asarray, model.params[k])
                       for k in model.specs}
        self.prec, self.mean = prior_terms(model, prior)
        self._in_tr = tuple(model.specs[k].transform for k in self.inputs)
        self._in_params = tuple(self.params[k] for k in self.inputs)
        self._caches = latent_caches(self._in_tr, self._in_params,
                                     [model.specs[k].dim for k in self.inputs], self.precision)
        # one float64 refinement step makes float32 Gram products exact for the latents
        self.n_refine = int(any(getattr(c, "dtype", None) == jnp.float32
                                for c in self._caches))
        self._consts = {}
        for k in self.inputs:
            spec = model.specs[k]
            ln_s = model.ln_scatter.get(k)
            limits = None if spec.limits is None else ColumnLimits(
                *(jnp.asarray(x, dtype=jnp.float64) for x in spec.limits))
            self._consts[k] = (jnp.asarray(spec.center, dtype=jnp.float64),
                               jnp.asarray(spec.scale, dtype=jnp.float64),
                               None if ln_s is None else jnp.asarray(ln_s, dtype=jnp.float64),
                               limits)
        # per input: (spectrum-kind missing rules, centre 0 and scale 1)
        self._spectra = tuple(
            (model.specs[k].kind != "label",
             bool(np.all(model.specs[k].center == 0) and np.all(model.specs[k].scale == 1)))
            for k in self.inputs)
        self._out_tr = tuple(model.specs[k].transform for k in self.outputs)
        self._out_full = tuple(model.specs[k].kind == "label" for k in self.outputs)
        self._out_params = tuple(self.params[k] for k in self.outputs)

    def raw_from_dataset(self, dataset: Dataset, rows: slice) -> dict[str, Raw]:
        """``{input: (values, errors, missing)}`` for rows of an in-memory dataset
        (label columns put in the model's order)."""
        raws = {}
        for k in self.inputs:
            o = dataset[k]
            spec = self.model.specs[k]
            if spec.kind == "label" and tuple(o.names) != spec.names:
                o = o.select(spec.names)
            raws[k] = (o.values[rows], o.errors[rows], o.missing[rows])
            if o.covariance is not None:
                raws[k] += (o.covariance[rows],)
        return raws

    def predict_dataset_rows(self, dataset: Dataset, rows: slice, chunk: int) -> Prediction:
        ids = None if dataset.ids is None else dataset.ids[rows]
        return self.run(self.raw_from_dataset(dataset, rows), ids=ids, chunk=chunk,
                        start=rows.start or 0)

    def run(self, raws: dict[str, Raw], ids: np.ndarray | None = None,
            chunk: int | None = None, start: int = 0) -> Prediction:
        with single_threaded_blas():
            return self._run(raws, ids, chunk, start)

    def _run(self, raws: dict[str, Raw], ids: np.ndarray | None = None,
             chunk: int | None = None, start: int = 0) -> Prediction:
        """Predict one block from ``{input: (values, errors, missing or None)}``.

        Values and errors are raw arrays (n, D_k) in natural units (float32 from a file
        is fine); with ``missing=None`` the missing-entry rules of
        :meth:`starlux.data.Output.create` are applied (identically). Label-kind inputs
        must be in the model's column order. ``chunk``: rows the block is padded to
        when shorter (so that the last block of a file reuses the compiled kernel).
        ``start``: the row number of the block's first object in the whole data set
        (seeds its posterior samples). An input given with a covariance (a fourth
        element) is solved under its full likelihood.
        """
        n = next(iter(raws.values()))[0].shape[0]
        m = _padded_rows(n, chunk or n)
        padded = tuple(_pad_raw(raws[k][:3], m) for k in self.inputs)
        consts = tuple(self._consts[k] for k in self.inputs)
        full = tuple(_pad_cov(raws[k][3], m) if raws[k][3:] and raws[k][3] is not None
                     else None for k in self.inputs)
        full = full if any(c is not None for c in full) else None
        z, cov, chi, used, rejected, outs, chol, data = _predict_block(
            self._in_params, self._caches, padded, consts, self.prec, self.mean,
            self._out_params, full, in_tr=self._in_tr, spectra=self._spectra, out_tr=self._out_tr,
            out_full=self._out_full, n_refine=self.n_refine, want_cov=self.want_cov,
            clip=self.clip, keep_data=self.samples > 0 and self.sampler == "nuts")
        deviations = self._deviations(z, chol, data, start) if self.samples else None
        z_dev = z
        z, cov, chi, used, rejected, outs = jax.device_get((z, cov, chi, used, rejected,
                                                             outs))
        chi2, n_used, n_rejected = {}, {}, {}
        for k, c, u, rj in zip(self.inputs, chi, used, rejected, strict=True):
            u = np.asarray(u[:n], dtype=np.int64)
            n_used[k] = u
            n_rejected[k] = np.asarray(rj[:n], dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                chi2[k] = np.where(u > 0, c[:n] / np.maximum(u, 1), np.nan)
        preds = {k: natural_output(self.model, k, v[:n], fv[:n],
                                    None if fc is None else fc[:n], np.asarray(z[:n]))
                 for k, (v, fv, fc) in zip(self.outputs, outs, strict=True)}
        if deviations is not None:
            keys = object_keys(self.seed, start, m)
            for i, k in enumerate(self.outputs):
                preds[k].samples = self._output_samples(i, k, preds[k], z_dev, deviations,
                                                        keys, n)
        return Prediction(z=np.asarray(z[:n]), z_cov=None if cov is None else cov[:n],
                          outputs=preds, chi2=chi2, n_used=n_used, inputs=self.inputs,
                          ids=ids, n_rejected=n_rejected)


    def _deviations(self, z: jax.Array, chol: jax.Array, data: Any, start: int) -> jax.Array:
        """(m, K, P) posterior draws of each object's latents minus its solution."""
        if self.sampler == "gaussian":
            return gaussian_deviations(chol, object_keys(self.seed, start, z.shape[0]),
                                       self.samples)
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), start)
        return nuts_deviations(self._in_tr, self._in_params, data, z, chol, self.prec,
                               self.mean, self.samples, key)

    def _output_samples(self, index: int, name: str, pred: OutputPrediction, z: jax.Array,
                        deviations: jax.Array, keys: jax.Array, n: int) -> np.ndarray:
        """(n, K, D) samples of one output in natural units (see :mod:`starlux.sampling`)."""
        spec = self.model.specs[name]
        c = float(self.model.error_scale.get(name, 1.0))
        # what the latents do not carry: the map and model-error parts
        extra = np.sqrt(np.maximum(pred.errors**2 - pred.fisher_errors**2, 0.0))
        m = z.shape[0]
        extra_sd = np.zeros((m, spec.dim))
        extra_sd[:n] = extra
        out = output_samples(spec.transform, self.params[name], z, deviations, c,
                             jnp.asarray(spec.scale), jnp.asarray(spec.center),
                             jnp.asarray(extra_sd), keys, index)
        return np.asarray(out)[:n]


def aligned_empty(shape: tuple[int, ...], dtype: Any, align: int = 64) -> np.ndarray:
    """An uninitialised array whose data start on an ``align``-byte boundary: JAX's CPU
    backend then uses it in place instead of copying it (saves a copy per block)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + size].view(dtype).reshape(shape)


def _pad_raw(raw: Raw, m: int) -> Raw:
    """Pad a block to ``m`` rows with entries that are missing under every rule."""
    values, errors, missing = raw
    n = values.shape[0]
    if n != m:
        def pad(a: np.ndarray, fill: Any) -> np.ndarray:
            out = aligned_empty((m,) + a.shape[1:], a.dtype)
            out[:n] = a
            out[n:] = fill
            return out

        values, errors = pad(values, 0), pad(errors, np.inf)
        if missing is not None:
            missing = pad(missing, True)
    return (jax.device_put(values), jax.device_put(errors),
            None if missing is None else jax.device_put(missing))


def _pad_cov(cov: np.ndarray, m: int) -> jax.Array:
    """A block's covariances padded to ``m`` rows with zeros (padded rows are missing)."""
    if cov.shape[0] != m:
        cov = np.concatenate([cov, np.zeros((m - cov.shape[0],) + cov.shape[1:])])
    return jax.device_put(cov)


def predict_prepared(model: ModelState, prepared: dict[str, Prepared], inputs: list[str],
                     outputs: list[str]) -> Prediction:
    """Predict ``outputs`` from already prepared ``inputs`` (model units, as stored for
    training) with the model's inference prior: the solve of :func:`predict` without
    re-reading and re-preparing the data (training's held-out folds). No latent or
    label covariances are kept."""
    data = {k: solve_data(prepared[k], model.ln_scatter.get(k)) for k in inputs}
    prec, mean = prior_terms(model)
    params = {k: jax.tree_util.tree_map(jnp.asarray, model.params[k]) for k in model.params}
    transforms = {k: s.transform for k, s in model.specs.items()}
    sol = solve_latents(transforms, params, data, prec, mean,
                        chunk_size=model.config.chunk_size, want_cov=True,
                        precision=model.config.precision)
    z = np.asarray(sol.z)
    outs = {}
    for k in outputs:
        tr = transforms[k]
        vals = np.asarray(tr.apply(params[k], sol.z))
        fvar = np.asarray(tr.propagate(params[k], sol.z, sol.cov))
        outs[k] = natural_output(model, k, vals, fvar, None, z)
    return Prediction(z=z, z_cov=None, outputs=outs, chi2={}, n_used={}, inputs=tuple(inputs))


def natural_output(model: ModelState, name: str, vals: np.ndarray, fvar: np.ndarray,
                   fcov: np.ndarray | None, z: np.ndarray) -> OutputPrediction:
    """Model-unit predictions of one output -> :class:`OutputPrediction` (natural units,
    calibrated statistical errors, map and model errors added)."""
    spec = model.specs[name]
    scale = spec.scale
    values = np.asarray(vals) * scale + spec.center
    # the calibrated scale of the statistical parts (1 for uncalibrated outputs)
    c2 = float(model.error_scale.get(name, 1.0)) ** 2
    fisher_var = np.maximum(np.asarray(fvar) * scale**2, 0.0) * c2
    map_var = None
    if name in model.map_cov:
        map_var = spec.transform.param_variance(model.params[name], model.map_cov[name],
                                                z) * scale**2 * c2
    n = values.shape[0]
    if name in model.model_error:
        # the learned model error, at each object's place in label space
        model_err = model_error_at(model.model_error[name], model.model_error_trend.get(name),
                                   np.asarray(vals))
    elif spec.has_scatter and name in model.ln_scatter:
        # a predicted spectrum's error includes the fitted per-pixel scatter
        model_err = np.broadcast_to(np.exp(model.ln_scatter[name]) * scale, (n, spec.dim))
    else:
        model_err = np.zeros((n, spec.dim))
    extra = model_err**2 + (0.0 if map_var is None else map_var)
    cov_out = None
    if fcov is not None:
        cov_out = np.asarray(fcov) * np.outer(scale, scale) * c2
        idx = np.arange(spec.dim)
        cov_out[:, idx, idx] += np.broadcast_to(extra, (n, spec.dim))
    return OutputPrediction(
        values=values,
        errors=np.sqrt(fisher_var + extra),
        fisher_errors=np.sqrt(fisher_var),
        model_error=model_err,
        cov=cov_out,
        names=spec.names,
        wavelength=spec.wavelength,
        map_errors=None if map_var is None else np.sqrt(map_var),
    )
