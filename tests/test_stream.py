"""Streaming prediction: equals in-memory prediction, resumes, runs on Dask, bounded memory."""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from starlux.cli import main
from starlux.data import Dataset
from starlux.infer import predict
from starlux.io.chunked import ChunkedDatasetWriter
from starlux.io.datasets import read_dataset, write_dataset
from starlux.io.models import load_model
from starlux.io.predictions import prediction_arrays, write_prediction
from starlux.linalg import gram_dtype, resolve_precision
from starlux.model import Lux
from starlux.stream import model_checksum, partial_path, predict_file

from .conftest import make_bilinear

N, D, CHUNK = 300, 40, 64


def _with_bad_entries(ds: Dataset) -> Dataset:
    """Every missing-entry rule exercised in the flux and label arrays."""
    flux, ferr = ds["flux"].values.copy(), ds["flux"].errors.copy()
    flux[0, 0] = np.nan
    ferr[1, 1] = np.inf
    ferr[2, 2] = 0.0
    ferr[3, 3] = -1.0
    ferr[4, 4] = 9999.0
    flux[5, 5] = 0.0
    ferr[6, 6] = 10.0  # inverse variance 0.01 < 0.1
    flux[7, :] = np.nan  # an object with no usable pixel
    lab, lerr = ds["label"].values.copy(), ds["label"].errors.copy()
    lab[8, 0] = np.nan
    lerr[9, 1] = 1e5
    return Dataset.from_arrays(flux=flux, flux_err=ferr, label=lab, label_err=lerr,
                               label_names=ds["label"].names, ids=ds.ids)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    ds, _ = make_bilinear(n=N + 200, p=4, d=D, noise=0.005, label_noise=0.01, seed=3)
    model = Lux(latents=4, progress=False, calibrate=False).fit(ds.take(np.arange(200)))
    test = _with_bad_entries(ds.take(np.arange(200, 200 + N)))
    data = tmp / "data.h5"
    write_dataset(data, test)
    model_path = tmp / "model.h5"
    model.save(model_path)
    return model, model_path, test, data


def _same(a: dict, b: dict, rtol: float = 1e-10) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape, k
        if x.dtype.kind in "USO" or y.dtype.kind in "USO":
            assert np.array_equal(x.astype(str), y.astype(str)), k
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-12, equal_nan=True,
                                       err_msg=k)


def _read(path) -> dict:
    if str(path).endswith(".npz"):
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    with h5py.File(path, "r") as f:
        return {k: (f[k].asstr()[()] if f[k].dtype.kind == "O" else f[k][()]) for k in f}


@pytest.mark.parametrize("ext", [".h5", ".npz"])
def test_streamed_equals_in_memory(setup, tmp_path, ext):
    model, _, test, data = setup
    ref = prediction_arrays(predict(model, read_dataset(data), chunk_size=CHUNK))
    out = tmp_path / f"pred{ext}"
    s = predict_file(model, data, out, chunk_size=CHUNK, progress=False)
    assert (s.n_objects, s.n_blocks, s.blocks_computed, s.blocks_skipped) == (N, 5, 5, 0)
    assert not partial_path(out).exists()
    _same(_read(out), ref)
    # the missing-entry rules applied to raw file arrays match the Dataset's
    np.testing.assert_array_equal(_read(out)["chi2_flux"][7], np.nan)
    # and a different block size gives the same numbers
    out2 = tmp_path / f"pred2{ext}"
    predict_file(model, data, out2, chunk_size=128, progress=False)
    _same(_read(out2), ref)


def test_label_inputs_reordered_columns_and_tables(setup, tmp_path):
    model, _, test, _ = setup
    lab = test["label"].select(["FE_H", "TEFF", "LOGG"])
    shuffled = Dataset(outputs={"label": lab, "flux": test["flux"]}, ids=test.ids)
    data = tmp_path / "shuffled.h5"
    write_dataset(data, shuffled)
    kw = dict(inputs=["flux", "label"], outputs=["label", "flux"])
    ref = predict(model, shuffled, chunk_size=CHUNK, **kw)
    out = tmp_path / "pred.h5"
    predict_file(model, data, out, chunk_size=CHUNK, progress=False, **kw)
    _same(_read(out), prediction_arrays(ref))
    # label tables are assembled from the blocks as well
    table = tmp_path / "pred.csv"
    predict_file(model, data, table, chunk_size=CHUNK, progress=False, **kw)
    ref_table = tmp_path / "ref.csv"
    write_prediction(ref_table, ref)
    assert table.read_text() == ref_table.read_text()


def test_a_streamed_fits_table_names_the_model_file_and_its_checksum(setup, tmp_path):
    from astropy.io import fits

    _, model_path, _, data = setup
    out = tmp_path / "pred.fits"
    predict_file(model_path, data, out, chunk_size=CHUNK, progress=False)
    hdr = fits.getheader(out, 1)
    assert hdr["MODEL"] == str(model_path)
    assert hdr["MODELSHA"] == model_checksum(model_path) and len(hdr["MODELSHA"]) == 64
    assert hdr["INPUTS"] == "flux" and hdr["TUNIT2"] == "K"  # TEFF


def test_an_npz_input_streams_too(setup, tmp_path):
    model, _, test, _ = setup
    data = tmp_path / "data.npz"
    write_dataset(data, test)
    out = tmp_path / "pred.h5"
    predict_file(model, data, out, chunk_size=CHUNK, progress=False)
    _same(_read(out), prediction_arrays(predict(model, test, chunk_size=CHUNK)))


def test_an_interrupted_run_resumes(setup, tmp_path):
    model, model_path, _, data = setup
    out = tmp_path / "pred.h5"

    class Stop(Exception):
        pass

    def stop_after_two(i, rows):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        predict_file(model_path, data, out, chunk_size=CHUNK, progress=False,
                     callback=stop_after_two)
    assert not out.exists()
    assert sorted(p.name for p in partial_path(out).glob("block_*.npz")) == [
        "block_000000.npz", "block_000001.npz"]
    torn = partial_path(out) / ".block_000002.npz.k1ll3d.tmp.npz"  # a killed block write
    torn.write_bytes(b"torn")
    seen = []
    s = predict_file(model_path, data, out, chunk_size=CHUNK, progress=False,
                     callback=lambda i, rows: seen.append((i, torn.exists())))
    assert seen == [(2, False), (3, False), (4, False)]
    assert (s.blocks_computed, s.blocks_skipped) == (3, 2)
    clean = tmp_path / "clean.h5"
    predict_file(model_path, data, clean, chunk_size=CHUNK, progress=False)
    _same(_read(out), _read(clean), rtol=0)


def test_changed_settings_or_no_resume_start_afresh(setup, tmp_path):
    model, model_path, _, data = setup
    out = tmp_path / "pred.h5"

    def stop(i, rows):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_file(model_path, data, out, chunk_size=CHUNK, progress=False, callback=stop)
    # another block size: the finished block is not reused
    s = predict_file(model_path, data, out, chunk_size=100, progress=False)
    assert (s.blocks_computed, s.blocks_skipped) == (3, 0)
    with pytest.raises(KeyboardInterrupt):
        predict_file(model_path, data, out, chunk_size=CHUNK, progress=False, callback=stop)
    s = predict_file(model_path, data, out, chunk_size=CHUNK, progress=False, resume=False)
    assert (s.blocks_computed, s.blocks_skipped) == (5, 0)


def test_a_local_cluster_gives_the_serial_results(setup, tmp_path):
    distributed = pytest.importorskip("distributed")
    model, _, _, data = setup
    serial = tmp_path / "serial.h5"
    predict_file(model, data, serial, chunk_size=CHUNK, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = tmp_path / "dask.h5"
        s = predict_file(model, data, out, chunk_size=CHUNK, progress=False,
                         scheduler=client, max_in_flight=3)
        assert s.blocks_computed == 5 and s.scheduler
        # an address string works as well (the function makes and closes its client)
        out2 = tmp_path / "dask2.npz"
        predict_file(model, data, out2, chunk_size=CHUNK, progress=False,
                     scheduler=cluster.scheduler_address)
    _same(_read(out), _read(serial), rtol=0)
    _same(_read(out2), _read(serial), rtol=0)


def _write_big(path, n, d, seed=0):
    rng = np.random.default_rng(seed)
    with ChunkedDatasetWriter(path, compression=None) as w:
        for a in range(0, n, 500):
            m = min(500, n - a)
            flux = (1 + 0.01 * rng.normal(size=(m, d))).astype(np.float32)
            w.append(Dataset.from_arrays(flux=flux, flux_err=np.full((m, d), 0.01, np.float32),
                                         ids=np.arange(a, a + m)))


def test_memory_is_bounded_by_block_size(setup, tmp_path):
    """Python-side peak allocations do not grow with N x D (JAX buffers are per block too);
    what grows is per-block bookkeeping of a few hundred bytes."""
    model, *_ = setup
    peaks = []
    sizes = (1000, 8000)
    for n in sizes:
        data = tmp_path / f"big{n}.h5"
        _write_big(data, n, D)
        out = tmp_path / f"pred{n}.h5"
        predict_file(model, data, out, chunk_size=100, progress=False)  # compile first
        tracemalloc.start()
        predict_file(model, data, out, chunk_size=100, progress=False, resume=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        with h5py.File(out) as f:
            assert f["label"].shape == (n, 3)
    data_growth = (sizes[1] - sizes[0]) * D * 8  # one N x D float64 array more
    assert peaks[1] - peaks[0] < 0.25 * data_growth, peaks
    assert peaks[1] < sizes[1] * D * 8 / 2, peaks


def test_cli_streams_h5_and_resumes(setup, tmp_path, capsys):
    _, model_path, test, data = setup
    out = tmp_path / "pred.h5"
    args = ["predict", str(model_path), str(data), "--out", str(out), "--chunk-size",
            str(CHUNK), "--no-progress"]
    assert main(args) == 0
    assert "300 objects in 5 blocks (5 computed)" in capsys.readouterr().out
    assert main(args + ["--no-resume", "--precision", "float64"]) == 0
    ref = predict(load_model(model_path), read_dataset(data), precision="float64")
    _same(_read(out), prediction_arrays(ref))
    npz = tmp_path / "data.npz"
    write_dataset(npz, test)
    assert main(["predict", str(model_path), str(npz), "--out", str(tmp_path / "p.npz")]) == 0
    assert main(["predict", str(model_path), str(data), "--out", str(tmp_path / "p.txt")]) == 2


def test_every_precision_gives_the_float64_labels_to_far_below_their_errors(setup):
    model, _, test, _ = setup
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("half")
    p64 = predict(model, test, precision="float64")
    for prec in ("float32", "auto"):
        p = predict(model, test, precision=prec)
        dv = np.abs(p["label"].values - p64["label"].values) / p64["label"].errors
        assert dv.max() < 1e-6
        np.testing.assert_allclose(p["label"].errors, p64["label"].errors, rtol=1e-4)
    # 40 pixels: too few for float32 in auto; a spectrum of 600 gets float32 Grams
    assert gram_dtype("auto", model.specs["flux"].dim) == np.float64
    assert gram_dtype("auto", 600) == np.float32 and gram_dtype("mixed", 600) == np.float32


def test_predict_file_refuses_to_overwrite_its_input(setup):
    from starlux.data import DataError

    model, model_path, _, data = setup
    before = data.read_bytes()
    with pytest.raises(DataError, match="out_path is the input file"):
        predict_file(model_path, data, data, progress=False)
    with pytest.raises(DataError, match="out_path is the input file"):
        predict_file(model_path, data, model_path, progress=False)
    assert data.read_bytes() == before


def test_a_run_killed_while_holding_the_lock_is_resumed_by_the_next(setup, tmp_path):
    """kill -9 leaves the lock file of a dead process and finished blocks: the next run
    takes the lock over, keeps the blocks, and gives bit-identical results."""
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    from starlux.io.locks import lock_path

    _, model_path, _, data = setup
    out = tmp_path / "pred.h5"
    code = textwrap.dedent(f"""
        import os, signal
        from starlux.stream import predict_file

        def kill_after_two(i, rows):
            if i == 1:
                os.kill(os.getpid(), signal.SIGKILL)

        predict_file({str(model_path)!r}, {str(data)!r}, {str(out)!r}, chunk_size={CHUNK},
                     progress=False, callback=kill_after_two)
    """)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert lock_path(out).exists() and not out.exists()
    s = predict_file(model_path, data, out, chunk_size=CHUNK, progress=False)
    assert (s.blocks_computed, s.blocks_skipped) == (3, 2)
    assert not lock_path(out).exists()
    clean = tmp_path / "clean.h5"
    predict_file(model_path, data, clean, chunk_size=CHUNK, progress=False)
    _same(_read(out), _read(clean), rtol=0)


def test_an_object_with_nothing_to_infer_from_is_flagged_and_warned_about_once(
        setup, tmp_path, caplog):
    model, model_path, test, data = setup
    with caplog.at_level("WARNING", logger="starlux"):
        mem = predict(model, test, inputs=["flux"])
        out = tmp_path / "pred.h5"
        predict_file(model_path, data, out, inputs=["flux"], chunk_size=CHUNK,
                     progress=False)
    warned = [r.getMessage() for r in caplog.records if "no usable entry" in r.getMessage()]
    assert len(warned) == 2 and all(m.startswith(f"1 of {N} objects") for m in warned)
    assert mem.n_used["flux"][7] == 0 and np.all(np.delete(mem.n_used["flux"], 7) > 0)
    streamed = _read(out)
    assert streamed["n_used_flux"][7] == 0
    assert mem.to_table()["n_used_flux"][7] == 0


def test_a_model_with_a_perceptron_label_map_streams_to_the_in_memory_answer(setup, tmp_path):
    _, _, test, data = setup
    ds, _ = make_bilinear(n=200, p=4, d=D, noise=0.005, label_noise=0.01, seed=3)
    model = Lux(latents=4, progress=False, calibrate=False,
                transforms={"label": "mlp:8x1"}).fit(ds)
    ref = prediction_arrays(predict(model, read_dataset(data), chunk_size=CHUNK))
    out = tmp_path / "pred.h5"
    predict_file(model, data, out, chunk_size=CHUNK, progress=False)
    _same(_read(out), ref, rtol=1e-9)
    assert np.all(ref["label_map_err"][np.isfinite(ref["label_map_err"])] > 0)
