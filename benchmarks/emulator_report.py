"""Render the validation report on the emulator benchmark (issue 5).

Trains ``Lux(latents=20)`` on the first 1000 stars of ``emu2k_train.npz`` and writes
``starlux report`` output for the 500 stars of ``emu2k_test.npz``, with the ASPCAP
DR17 element windows shaded on the derivative spectra. About 2-3 minutes on 2 cores.

    PYTHONPATH=src python benchmarks/emulator_report.py [BENCHDATA_DIR] [OUT_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from starlux.evaluate.report import make_report
from starlux.io.datasets import read_dataset
from starlux.model import Lux

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ROOT.parent / "shared" / "data" / "apogee-masks-windows" / "aspcap_dr17_windows"


def main() -> None:
    bench = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/benchdata")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("emulator-report")
    t0 = time.time()
    train = read_dataset(bench / "emu2k_train.npz").take(np.arange(1000))
    test = read_dataset(bench / "emu2k_test.npz")
    model = Lux(latents=20, seed=0).fit(train)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.h5"))
    print(f"trained P={model.n_latents}, Omega={model.reg:g} on {train.n} stars "
          f"in {time.time() - t0:.0f} s")
    rep = make_report(model, test, out, windows=WINDOWS if WINDOWS.is_dir() else None,
                      title="starlux report: emulator benchmark (1000 train / 500 test)")
    print(f"report: {len(rep.figures)} figures, {rep.index} ({time.time() - t0:.0f} s)")
    for what, why in rep.skipped:
        print(f"  skipped {what}: {why}")


if __name__ == "__main__":
    main()
