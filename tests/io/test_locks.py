"""One writer per output: the lock file, stale locks, and temporaries of killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from starlux.cli import main
from starlux.io.datasets import write_dataset
from starlux.io.errors import OutputBusyError
from starlux.io.locks import lock_path, output_lock
from starlux.model import Lux
from tests.conftest import make_bilinear

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("locks")
    ds, _ = make_bilinear(n=30, p=4, d=8, noise=0.01, label_noise=0.02, seed=4)
    write_dataset(tmp / "data.npz", ds)
    Lux(latents=4, n_iter=1, calibrate=False, progress=False).fit(ds).save(tmp / "model.h5")
    return tmp


def _holder(out: Path) -> subprocess.Popen:
    """Another process holding the lock of ``out`` until it is killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from starlux.io.locks import output_lock
        with output_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_and_the_first_is_unaffected(files, tmp_path, capsys):
    out = tmp_path / "pred.npz"
    out.write_bytes(b"the first writer's file")
    first = _holder(out)
    try:
        rc = main(["predict", str(files / "model.h5"), str(files / "data.npz"), "--out",
                   str(out), "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1
        assert f"pred.npz: process {first.pid} on" in err[0]
        assert "is writing this file" in err[0]
        # the first writer still holds its lock, and its output is untouched
        assert first.poll() is None
        assert lock_path(out).read_text().split()[0] == str(first.pid)
        assert out.read_bytes() == b"the first writer's file"
    finally:
        first.kill()
        first.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over(files, tmp_path, capsys):
    out = tmp_path / "pred.npz"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    lock_path(out).write_text(f"{dead.pid} {socket.gethostname()}\n")
    assert main(["predict", str(files / "model.h5"), str(files / "data.npz"), "--out",
                 str(out), "--no-progress"]) == 0
    assert out.exists() and not lock_path(out).exists()


def test_train_is_refused_while_another_process_writes_its_model(files, tmp_path, capsys):
    out = tmp_path / "m.h5"
    first = _holder(out)
    try:
        rc = main(["train", str(files / "data.npz"), "--out", str(out), "--latents", "4",
                   "--no-calibrate", "--no-progress"])
        assert rc == 2 and "is writing this file" in capsys.readouterr().err
        assert not out.exists()
    finally:
        first.kill()
        first.wait()


def test_a_lock_is_reentrant_in_one_process_and_removed_after_an_error(tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(RuntimeError), output_lock(out):
        with output_lock(out):  # the command layer and predict_file both take it
            assert lock_path(out).exists()
        assert lock_path(out).exists()
        raise RuntimeError
    assert not lock_path(out).exists()


def test_a_lock_held_elsewhere_raises_output_busy(tmp_path):
    out = tmp_path / "x.h5"
    holder = _holder(out)
    try:
        with pytest.raises(OutputBusyError, match="is writing this file"), output_lock(out):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_one(files, tmp_path):
    out = tmp_path / "pred.npz"
    stale = [tmp_path / ".pred.npz.k1ll3d.tmp.npz", tmp_path / ".pred.npz.abcd.tmp.npz"]
    other = tmp_path / ".other.npz.abcd.tmp.npz"  # another target's: left alone
    for p in (*stale, other):
        p.write_bytes(b"torn")
    assert main(["predict", str(files / "model.h5"), str(files / "data.npz"), "--out",
                 str(out), "--no-progress"]) == 0
    assert out.exists() and other.exists()
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.abcd.tmp.npz",
                                                          "pred.npz"]
