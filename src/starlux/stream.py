"""Streaming prediction: any number of objects with memory bounded by the block size.

:func:`predict_file` reads a dataset file block by block, predicts each block with the
same per-block computation as :func:`starlux.infer.predict`
(:class:`starlux.infer.BlockPredictor`), and writes the results incrementally:

* each finished block is written atomically to ``OUT.partial/block_NNNNNN.npz`` next to
  the target, together with ``OUT.partial/manifest.json`` recording what is being
  computed (model checksum, data file size / time / shapes, inputs, outputs, prior,
  block size, precision);
* a rerun with the same manifest skips the blocks already written (resumable after an
  interruption, a crash or a killed job); a different model, data file or setting
  starts afresh;
* at the end the blocks are assembled into ``OUT`` (``.h5`` / ``.npz``: the
  :mod:`starlux.io.predictions` array layout, streamed block by block; ``.fits`` /
  ``.csv``: the label table, whose O(N M) columns are gathered in memory) with an atomic
  rename, and the partial folder is removed.

With ``scheduler`` (a ``dask.distributed`` scheduler address or ``Client``) the blocks
are tasks on the cluster: each task reads its own rows of the data file (the file must
be readable at the same path on the workers) and returns the small per-object result
arrays, which are written here as they arrive. The per-block computation is the same,
so the results equal the serial run's.

``.h5`` inputs are read with a fast path (raw arrays straight into the fused JAX kernel,
the missing-entry rules applied there); ``.npz`` and ``.fits`` go through
:func:`starlux.io.chunked.iter_dataset_chunks` (``.npz`` cannot be read in parts: it is
loaded whole, so use ``.h5`` for data larger than memory).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from .data import DataError, Dataset
from .infer import BlockPredictor, Prediction, aligned_empty, resolve_io
from .io.atomic import atomic_path
from .io.chunked import dataset_info, iter_dataset_chunks
from .io.datasets import decode_strings
from .io.errors import FileFormatError
from .io.formats import astropy_format, can_hold, format_name, format_of, suffixes
from .io.locks import output_lock
from .io.paths import check_output
from .io.predictions import prediction_arrays, write_table
from .linalg import resolve_precision
from .model import LuxModel
from .prediction import objects_without_data, warn_objects_without_data
from .sampling import check_sampler
from .tables import label_table, table_meta

__all__ = ["predict_file", "StreamSummary", "model_checksum", "partial_path"]

MANIFEST_VERSION = 1
_STATIC_SUFFIXES = ("_names",)


@dataclass
class StreamSummary:
    """What :func:`predict_file` did."""

    out: str
    n_objects: int
    n_blocks: int
    blocks_computed: int
    blocks_skipped: int
    seconds: float
    objects_per_second: float
    peak_rss_mb: float
    scheduler: str | None = None

    def __str__(self) -> str:
        skipped = (f", {self.blocks_skipped} already done" if self.blocks_skipped else "")
        return (f"predicted {self.n_objects} objects in {self.n_blocks} blocks "
                f"({self.blocks_computed} computed{skipped}) in {self.seconds:.1f} s "
                f"({self.objects_per_second:.0f} objects/s); wrote {self.out}")


def partial_path(out_path: str | os.PathLike) -> Path:
    """The folder that holds finished blocks while ``out_path`` is being computed."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".partial")


def model_checksum(model: LuxModel | str | os.PathLike) -> str:
    """SHA-256 of a model file, or of a model's arrays and settings (in memory)."""
    h = hashlib.sha256()
    if not isinstance(model, LuxModel):
        with open(model, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    h.update(json.dumps(asdict(model.config), sort_keys=True, default=str).encode())
    for name, spec in model.specs.items():
        h.update(f"{name}|{spec.kind}|{spec.names}|{spec.transform.name}|"
                 f"{spec.has_scatter}".encode())
        arrays = [spec.center, spec.scale, model.ln_scatter.get(name),
                  model.model_error.get(name), model.map_cov.get(name),
                  *model.model_error_trend.get(name, {}).values(),
                  *model.params[name].values()]
        for a in arrays:
            if a is not None:
                h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    for a in (model.prior_mean, model.prior_cov, model.z_train):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def _peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20


# --- reading blocks ------------------------------------------------------------------


class _H5Reader:
    """Raw rows of an ``.h5`` dataset file for the given inputs (no Dataset objects)."""

    def __init__(self, path: Path, model: LuxModel, inputs: Sequence[str]):
        self.path = path
        self.keys: dict[str, tuple[str, str, np.ndarray | None]] = {}
        self.covs: dict[str, str] = {}
        try:
            with h5py.File(path, "r") as f:
                for k in inputs:
                    spec = model.specs[k]
                    order = None
                    if spec.kind == "label":
                        names_key = "label_names" if k == "label" else f"{k}_names"
                        names = [str(s) for s in decode_strings(f[names_key][()])]
                        order = np.array([names.index(s) for s in spec.names])
                        if np.array_equal(order, np.arange(len(names))):
                            order = None
                    self.keys[k] = (k, f"{k}_err", order)
                    if f"{k}_cov" in f:  # correlated errors: read with the values
                        self.covs[k] = f"{k}_cov"
                self.has_ids = "id" in f
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(f"{path}: cannot read ({exc})") from None
        self._file: h5py.File | None = None

    def read(self, rows: slice) -> tuple[dict[str, tuple], np.ndarray | None]:
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        f = self._file
        raws = {}
        for k, (vk, ek, order) in self.keys.items():
            v, e = (_read_aligned(f[key], rows) for key in (vk, ek))
            if order is not None:
                v, e = v[:, order], e[:, order]
            raws[k] = (v, e, None)
            if k in self.covs:
                c = _read_aligned(f[self.covs[k]], rows)
                raws[k] += (c if order is None else c[:, order][:, :, order],)
        ids = decode_strings(f["id"][rows]) if self.has_ids else None
        return raws, ids

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_aligned(dset: h5py.Dataset, rows: slice) -> np.ndarray:
    """Rows of an HDF5 dataset read into a 64-byte-aligned array (used in place by JAX).

    Integer (or boolean) arrays are read as float64: the kernels pad blocks with NaN
    and infinities, which integers cannot hold.
    """
    dtype = dset.dtype if dset.dtype.kind == "f" else np.dtype(np.float64)
    out = aligned_empty((rows.stop - rows.start,) + dset.shape[1:], dtype)
    if out.size:
        dset.read_direct(out, source_sel=np.s_[rows.start:rows.stop])
    return out


def _read_rows(path: Path, rows: slice, chunk_size: int, model: LuxModel,
               inputs: Sequence[str], bp: BlockPredictor) -> tuple[dict[str, tuple], Any]:
    """One block's raw inputs and ids from any supported file (used by Dask tasks)."""
    if format_name(path) == "hdf5":
        reader = _H5Reader(path, model, inputs)
        try:
            return reader.read(rows)
        finally:
            reader.close()
    for sl, ds in iter_dataset_chunks(path, chunk_size):
        if sl.start == rows.start:
            return bp.raw_from_dataset(ds, slice(None)), ds.ids
    raise DataError(f"{path}: no block starts at row {rows.start}")


def _first_rows(path: Path, n: int) -> Dataset:
    """A small Dataset of the file's first rows (to check it against the model)."""
    for _, ds in iter_dataset_chunks(path, max(1, min(n, 64))):
        return ds
    raise DataError(f"{path}: holds no objects")


# --- the block files -----------------------------------------------------------------


def _block_name(i: int) -> str:
    return f"block_{i:06d}.npz"


def _write_block(folder: Path, i: int, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(folder / _block_name(i)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _block_done(folder: Path, i: int) -> bool:
    p = folder / _block_name(i)
    if not p.exists():
        return False
    try:  # a readable zip with its arrays (atomic writes make a torn file unlikely)
        with zipfile.ZipFile(p) as z:
            return z.testzip() is None and len(z.namelist()) > 0
    except (OSError, zipfile.BadZipFile):
        return False


def _block_arrays(pred: Prediction) -> dict[str, np.ndarray]:
    return prediction_arrays(pred)


def _open_partial(folder: Path, manifest: dict[str, Any], resume: bool) -> list[int]:
    """Prepare the partial folder; return the blocks already done."""
    mpath = folder / "manifest.json"
    if folder.exists():
        old = None
        if resume and mpath.exists():
            try:
                old = json.loads(mpath.read_text())
            except (OSError, ValueError):
                old = None
        if old == manifest:
            for tmp in folder.glob(".block_*.tmp*"):  # blocks torn by a killed run
                tmp.unlink(missing_ok=True)
            return [i for i in range(manifest["n_blocks"]) if _block_done(folder, i)]
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with atomic_path(mpath) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return []


# --- assembling the output -----------------------------------------------------------


def _iter_blocks(folder: Path, n_blocks: int, keys: Sequence[str] | None = None
                 ) -> Iterator[dict[str, np.ndarray]]:
    for i in range(n_blocks):
        with np.load(folder / _block_name(i), allow_pickle=False) as f:
            yield {k: f[k] for k in (keys if keys is not None else f.files)}


def _layout(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple]]:
    """Static arrays (names) and per-object (tail shape, dtype) by key."""
    with np.load(folder / _block_name(0), allow_pickle=False) as f:
        static, rows = {}, {}
        for k in f.files:
            a = f[k]
            if k.endswith(_STATIC_SUFFIXES):
                static[k] = a
            else:
                rows[k] = (a.shape[1:], a.dtype)
    return static, rows


def _assemble_h5(tmp: Path, folder: Path, n: int, n_blocks: int) -> None:
    static, rows = _layout(folder)
    with h5py.File(tmp, "w") as f:
        for k, v in static.items():
            if v.dtype.kind == "U":
                f.create_dataset(k, data=v.astype(object), dtype=h5py.string_dtype())
            else:
                f.create_dataset(k, data=v)
        dsets = {}
        for k, (tail, dtype) in rows.items():
            kw: dict[str, Any] = {}
            if n > 0:
                kw["chunks"] = (min(n, max(1, 2**20 // max(1, int(np.prod(tail)) * 8))),
                                *tail)
            if dtype.kind == "U":
                dsets[k] = f.create_dataset(k, shape=(n, *tail), dtype=h5py.string_dtype(),
                                            **kw)
            else:
                dsets[k] = f.create_dataset(k, shape=(n, *tail), dtype=dtype, **kw)
        start = 0
        for arrays in _iter_blocks(folder, n_blocks, list(rows)):
            m = next(iter(arrays.values())).shape[0]
            for k, a in arrays.items():
                dsets[k][start:start + m] = a.astype(object) if a.dtype.kind == "U" else a
            start += m


def _assemble_npz(tmp: Path, folder: Path, n: int, n_blocks: int) -> None:
    """An ``.npz`` written array by array, block by block (never all in memory)."""
    static, rows = _layout(folder)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for k, v in static.items():
            with z.open(f"{k}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(v), allow_pickle=False)
        for k, (tail, dtype) in rows.items():
            if dtype.kind == "U":  # ids as strings: the widest width over all blocks
                width = max(a[k].dtype.itemsize for a in _iter_blocks(folder, n_blocks, [k]))
                dtype = np.dtype((dtype.type, width // np.dtype(f"{dtype.kind}1").itemsize))
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (n, *tail)}
            with z.open(f"{k}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_2_0(fh, header)
                for arrays in _iter_blocks(folder, n_blocks, [k]):
                    fh.write(np.ascontiguousarray(arrays[k], dtype=dtype).tobytes())


def _assemble_table(tmp: Path, folder: Path, n_blocks: int, fmt: str,
                    meta: dict[str, Any]) -> None:
    """The label table of a streamed prediction: the same builder as
    :meth:`Prediction.to_table` on the blocks' arrays (covariances and latents left
    out: a table has one scalar per column)."""
    static, rows = _layout(folder)
    outputs = [k[:-len("_cov")] for k in rows if k.endswith("_cov")]
    parts: dict[str, list[np.ndarray]] = {}
    for arrays in _iter_blocks(folder, n_blocks):
        for k, v in arrays.items():
            if k != "z" and not k.endswith("_cov"):
                parts.setdefault(k, []).append(v)
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    arrays.update(static)
    inputs = [k[len("chi2_"):] for k in arrays if k.startswith("chi2_")]
    write_table(label_table(arrays, outputs=outputs, meta=table_meta(inputs, **meta)), tmp,
                fmt=fmt, atomic=False)


def _assemble(out: Path, folder: Path, n: int, n_blocks: int,
              meta: dict[str, Any]) -> None:
    """The output file from the finished blocks (``meta``: :func:`table_meta`'s model
    arguments, for a label table)."""
    fmt = _out_format(out)
    with atomic_path(out) as tmp:
        if fmt == "hdf5":
            _assemble_h5(tmp, folder, n, n_blocks)
        elif fmt == "npz":
            _assemble_npz(tmp, folder, n, n_blocks)
        else:
            _assemble_table(tmp, folder, n_blocks, astropy_format(fmt), meta)


def _out_format(out: Path) -> str:
    """The format of a prediction file (arrays or a label table), or a clear error."""
    return format_of(out, "prediction arrays", "label table", what="prediction")


# --- Dask tasks ----------------------------------------------------------------------

_WORKER_PREDICTORS: dict[tuple, BlockPredictor] = {}


def _predict_block_task(model: LuxModel, token: tuple, path: str, i: int, rows: slice,
                        chunk_size: int) -> tuple[int, dict[str, np.ndarray]]:
    """Runs on a worker: read rows of ``path``, predict, return the result arrays."""
    _, inputs, outputs, prior, precision, draws = token
    bp = _WORKER_PREDICTORS.get(token)
    if bp is None:
        if len(_WORKER_PREDICTORS) > 4:
            _WORKER_PREDICTORS.clear()
        bp = _WORKER_PREDICTORS[token] = BlockPredictor(
            model, inputs, outputs, prior=prior, precision=precision, want_cov=False,
            **dict(draws))
    raws, ids = _read_rows(Path(path), rows, chunk_size, model, inputs, bp)
    return i, _block_arrays(bp.run(raws, ids=ids, chunk=chunk_size, start=rows.start))


# --- the entry point -----------------------------------------------------------------


def predict_file(
    model: LuxModel | str | os.PathLike,
    data_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    prior: str | None = None,
    chunk_size: int = 1024,
    precision: str = "auto",
    scheduler: Any = None,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[int, slice], None] | None = None,
    max_in_flight: int | None = None,
    samples: int = 0,
    sampler: str = "gaussian",
    seed: int = 0,
) -> StreamSummary:
    """Predict every object of a dataset file, block by block, into ``out_path``.

    Args:
        model: a :class:`LuxModel` or the path of a model file.
        data_path: ``.h5`` (fast, any size), ``.fits`` (memory-mapped) or ``.npz``.
        out_path: ``.h5`` / ``.npz`` (all arrays) or ``.fits`` / ``.csv`` (label table).
        inputs, outputs, prior, precision, samples, sampler, seed: as in
            :func:`starlux.infer.predict` (samples need an ``.h5`` / ``.npz`` output;
            with the Gaussian sampler they equal the in-memory ones).
        chunk_size: objects per block; memory is bounded by it, whatever N is
            (about 1 GB at 1,024 objects x 7,514 pixels, P = 48).
        scheduler: ``None`` (run here), a ``dask.distributed`` scheduler address or a
            ``distributed.Client``: blocks become tasks on that cluster.
        resume: reuse finished blocks of an interrupted run with the same settings
            (``False``: start afresh).
        progress: show a progress bar (objects/s).
        callback: called as ``callback(block_index, rows)`` after each block is written
            (e.g. to log, or to stop a run by raising).
        max_in_flight: Dask tasks submitted at once (default: 2 per worker thread).

    Returns:
        A :class:`StreamSummary`.
    """
    t0 = time.perf_counter()
    data_path, out_path = Path(data_path), Path(out_path)
    if chunk_size < 1:
        raise DataError(f"chunk_size must be >= 1, got {chunk_size}")
    precision = resolve_precision(precision)
    samples, sampler = check_sampler(samples, sampler)
    draws = (("samples", samples), ("sampler", sampler), ("seed", int(seed))) if samples else ()
    _out_format(out_path)  # before any work
    if samples and not can_hold(out_path, "prediction arrays"):
        raise FileFormatError(f"{out_path}: posterior samples need an array file "
                              f"({', '.join(suffixes('prediction arrays'))}), not "
                              f"{out_path.suffix.lower()!r}")
    check_output(out_path, [data_path, None if isinstance(model, LuxModel) else model],
                 flag="out_path")
    with output_lock(out_path):  # one writer per output; stale temporaries removed
        return _predict_locked(model, data_path, out_path, inputs, outputs, prior,
                               chunk_size, precision, scheduler, resume, progress, callback,
                               max_in_flight, t0, draws)


def _predict_locked(model: LuxModel | str | os.PathLike, data_path: Path, out_path: Path,
                    inputs: Sequence[str] | None, outputs: Sequence[str] | None,
                    prior: str | None, chunk_size: int, precision: str, scheduler: Any,
                    resume: bool, progress: bool,
                    callback: Callable[[int, slice], None] | None,
                    max_in_flight: int | None, t0: float,
                    draws: tuple[tuple[str, Any], ...] = ()) -> StreamSummary:
    """The body of :func:`predict_file`, run while holding the output's lock."""
    model_id, model_file = None, None
    if not isinstance(model, LuxModel):
        model_file = str(model)
        loaded = LuxModel.load(model)  # a clear error for a missing or corrupt file first
        model_id = model_checksum(model)
        model = loaded
    model_id = model_id or model_checksum(model)
    info = dataset_info(data_path)
    n = int(info["n"])
    if n == 0:
        raise DataError(f"{data_path}: holds no objects")
    inputs, outputs = resolve_io(model, _first_rows(data_path, chunk_size), inputs, outputs)
    n_blocks = max(1, -(-n // chunk_size))
    stat = data_path.stat()
    manifest = {
        "format": "starlux-partial-prediction", "version": MANIFEST_VERSION,
        "model_sha256": model_id,
        "data": {"path": str(data_path.resolve()), "size": stat.st_size,
                 "mtime_ns": stat.st_mtime_ns, "n": n,
                 "arrays": {k: list(v) for k, v in sorted(info["arrays"].items())}},
        "inputs": list(inputs), "outputs": list(outputs), "prior": prior,
        "precision": precision, "chunk_size": chunk_size, "n_blocks": n_blocks,
        "samples": dict(draws),
    }
    folder = partial_path(out_path)
    done = set(_open_partial(folder, manifest, resume))
    todo = [i for i in range(n_blocks) if i not in done]
    rows_of = [slice(i * chunk_size, min(n, (i + 1) * chunk_size)) for i in range(n_blocks)]
    bar = tqdm(total=n, initial=sum(rows_of[i].stop - rows_of[i].start for i in done),
               unit="obj", unit_scale=True, desc="predict", disable=None if progress else True,
               smoothing=0.1)

    empty = [0]  # objects of the computed blocks with nothing to infer from

    def finished(i: int, arrays: dict[str, np.ndarray]) -> None:
        empty[0] += objects_without_data({k: v for k, v in arrays.items()
                                          if k.startswith("n_used_")})
        _write_block(folder, i, arrays)
        bar.update(rows_of[i].stop - rows_of[i].start)
        if callback is not None:
            callback(i, rows_of[i])

    sched_name = None
    try:
        if todo and scheduler is not None:
            sched_name = _run_dask(scheduler, model, model_id, inputs, outputs, prior,
                                   precision, data_path, todo, rows_of, chunk_size,
                                   finished, max_in_flight, draws)
        elif todo:
            bp = BlockPredictor(model, inputs, outputs, prior=prior, precision=precision,
                                want_cov=False, **dict(draws))
            for i, raws, ids in _prefetch(data_path, model, inputs, bp, todo, rows_of,
                                          chunk_size, n):
                finished(i, _block_arrays(bp.run(raws, ids=ids, chunk=chunk_size,
                                                 start=rows_of[i].start)))
    finally:
        bar.close()
    _assemble(out_path, folder, n, n_blocks,
              {"model": model_file, "model_sha256": model_id})
    shutil.rmtree(folder, ignore_errors=True)
    n_done = sum(rows_of[i].stop - rows_of[i].start for i in todo)
    warn_objects_without_data(empty[0], n_done, inputs)
    seconds = time.perf_counter() - t0
    return StreamSummary(out=str(out_path), n_objects=n, n_blocks=n_blocks,
                         blocks_computed=len(todo), blocks_skipped=len(done),
                         seconds=seconds, objects_per_second=n_done / max(seconds, 1e-9),
                         peak_rss_mb=_peak_rss_mb(), scheduler=sched_name)


def _prefetch(data_path: Path, model: LuxModel, inputs: Sequence[str], bp: BlockPredictor,
              todo: list[int], rows_of: list[slice], chunk_size: int, n: int,
              ) -> Iterator[tuple[int, dict[str, tuple], Any]]:
    """Yield (block, raw inputs, ids) for the blocks to do, reading the next block in a
    background thread while the current one is computed (one block ahead)."""
    if format_name(data_path) != "hdf5":
        want = set(todo)
        for i, (_, ds) in enumerate(iter_dataset_chunks(data_path, chunk_size)):
            if i in want:
                yield i, bp.raw_from_dataset(ds, slice(None)), ds.ids
        return
    reader = _H5Reader(data_path, model, inputs)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(reader.read, rows_of[todo[0]])
            for j, i in enumerate(todo):
                raws, ids = pending.result()
                if j + 1 < len(todo):
                    pending = pool.submit(reader.read, rows_of[todo[j + 1]])
                yield i, raws, ids
    finally:
        reader.close()


def _run_dask(scheduler: Any, model: LuxModel, model_id: str, inputs: Sequence[str],
              outputs: Sequence[str], prior: str | None, precision: str, data_path: Path,
              todo: list[int], rows_of: list[slice], chunk_size: int,
              finished: Callable[[int, dict[str, np.ndarray]], None],
              max_in_flight: int | None, draws: tuple[tuple[str, Any], ...] = ()) -> str:
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        token = (model_id, tuple(inputs), tuple(outputs), prior, precision, draws)
        model_f = client.scatter(model, broadcast=True, hash=False)
        if max_in_flight is None:
            threads = sum(client.nthreads().values()) or 1
            max_in_flight = 2 * threads
        path = str(data_path.resolve())
        queue = list(todo)

        def submit(i: int):
            return client.submit(_predict_block_task, model_f, token, path, i, rows_of[i],
                                 chunk_size, pure=False, key=f"starlux-block-{i}-{model_id[:8]}"
                                 f"-{time.time_ns()}")

        first = [submit(queue.pop(0)) for _ in range(min(max_in_flight, len(queue)))]
        ac = as_completed(first)
        for fut in ac:
            i, arrays = fut.result()
            finished(i, arrays)
            fut.release()
            if queue:
                ac.add(submit(queue.pop(0)))
        return str(client.scheduler.address)
    finally:
        if own:
            client.close()
