"""The small files the command tests run on: a dataset in each format, a model, and
damaged copies of both."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from starlux.io.datasets import dataset_to_arrays, write_arrays, write_dataset
from starlux.model import Lux
from tests.conftest import make_bilinear

N = 40
"""Objects in the ``files`` dataset."""


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """Small dataset, model and damaged files; returns {name: path}."""
    tmp = tmp_path_factory.mktemp("bad")
    ds, _ = make_bilinear(n=N, p=4, d=8, noise=0.01, label_noise=0.02, seed=2)
    f = {"dir": tmp}
    for ext in ("npz", "h5", "fits"):
        f[f"train_{ext}"] = tmp / f"train.{ext}"
        write_dataset(f[f"train_{ext}"], ds)
    model = Lux(latents=4, n_iter=1, calibrate=False, progress=False).fit(ds)
    f["model"] = tmp / "model.h5"
    model.save(f["model"])
    for ext in ("npz", "fits"):
        raw = f[f"train_{ext}"].read_bytes()
        f[f"trunc_{ext}"] = tmp / f"trunc.{ext}"
        f[f"trunc_{ext}"].write_bytes(raw[: len(raw) // 2])
    for ext in ("npz", "h5"):
        f[f"empty_{ext}"] = tmp / f"empty.{ext}"
        write_dataset(f[f"empty_{ext}"], ds.take(np.arange(0)))
    arrays = dataset_to_arrays(ds)
    f["float_names"] = tmp / "float_names.npz"
    write_arrays(f["float_names"], {**arrays, "label_names": np.array([1.0, 2.0, 3.0])})
    for name, version in (("version_one", "one"), ("version_7", 7)):
        f[name] = tmp / f"{name}.h5"
        shutil.copy(f["model"], f[name])
        with h5py.File(f[name], "a") as h:
            h.attrs["format_version"] = version
    f["zeroed"] = tmp / "zeroed.h5"
    f["zeroed"].write_bytes(bytes(f["model"].stat().st_size))
    raw = bytearray(f["model"].read_bytes())
    raw[2048:] = bytes(len(raw) - 2048)  # a valid superblock, the rest zeroed
    f["zeroed_tail"] = tmp / "zeroed_tail.h5"
    f["zeroed_tail"].write_bytes(bytes(raw))
    f["catalog"] = tmp / "labels.csv"
    write_dataset(f["catalog"], ds.with_outputs(["label"]))
    f["a_file"] = tmp / "a_file"
    f["a_file"].write_text("not a folder")
    return f
