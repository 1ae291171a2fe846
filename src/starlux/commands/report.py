"""``starlux report MODEL DATA_FILE --out DIR``: the validation report (PNGs + index.html)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .options import add_list_option


def _split_values(values: Sequence[str]) -> list[str]:
    """Space-separated values, each of which may also hold commas."""
    return [v for s in values for v in s.split(",") if v.strip()]


def parse_wave_range(values: Sequence[str] | None) -> tuple[float, float] | None:
    """``--wave-range MIN MAX`` (or ``MIN,MAX``), in the unit the figures use."""
    if not values:
        return None
    parts = _split_values(values)
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise ValueError(f"--wave-range takes two numbers, MIN MAX; got "
                         f"{' '.join(values)!r}") from None
    if not lo < hi:
        raise ValueError(f"--wave-range: MIN must be below MAX; got {lo:g} {hi:g}")
    return lo, hi


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file (.h5)")
    p.add_argument("data_file", metavar="DATA_FILE",
                   help="labelled dataset to validate on (.npz/.h5/.fits); with a "
                        "label_true column (simulations) residuals are against the truth")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--windows", default=None, metavar="DIR",
                   help="ASPCAP element-window folder (wave.dat + <El>.filt), shaded on "
                        "the derivative spectra (default: none)")
    p.add_argument("--realizations", type=int, default=10, metavar="K",
                   help="noise realisations per object for the precision plot, 0 to skip "
                        "(default: %(default)s)")
    p.add_argument("--max-realization-objects", type=int, default=500, metavar="N",
                   help="objects (a random subset) given realisations (default: %(default)s)")
    p.add_argument("--spectra", type=int, default=4, metavar="N",
                   help="objects in the spectra figure (default: %(default)s)")
    p.add_argument("--wave-range", nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="MIN MAX of the zoomed spectra and derivative figures, in the "
                        "figures' unit: nm for Gaia XP spectra, Å otherwise (default: "
                        "15700 15850 Å when on the grid; no zoom without wavelengths or "
                        "for Gaia XP)")
    add_list_option(p, "--from", dest="inputs", default=None, unique=True,
                    metavar="OUTPUT",
                    help="outputs the labels are predicted from (default: every spectral "
                         "output of the model the data have, e.g. flux and the photometry "
                         "phot)")
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE latent map")
    p.add_argument("--title", default=None, metavar="TEXT",
                   help="page title (default: 'starlux validation report')")
    p.add_argument("--seed", type=int, default=0, metavar="INT",
                   help="seed of the noise realisations and random subsets "
                        "(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from ..evaluate.report import make_report
    from ..evaluate.spectrum_plots import UNIT_PER_ANGSTROM, wavelength_unit
    from ..io.datasets import read_dataset
    from ..model import load_model

    model = load_model(args.model)
    ds = read_dataset(args.data_file)
    wave_range = parse_wave_range(args.wave_range)
    if wave_range is not None:  # given in the figures' unit; the report takes Å
        spectral = model.spectral_outputs
        wl = model.specs[spectral[0]].wavelength if spectral else None
        f = UNIT_PER_ANGSTROM[wavelength_unit(wl)]
        wave_range = (wave_range[0] / f, wave_range[1] / f)
    rep = make_report(model, ds, args.out, windows=args.windows, n_spectra=args.spectra,
                      n_realizations=args.realizations,
                      max_realization_objects=args.max_realization_objects,
                      wave_range=wave_range, tsne=not args.no_tsne, seed=args.seed,
                      progress=not args.no_progress, title=args.title, inputs=args.inputs)
    print(f"wrote {len(rep.figures)} figures and {rep.index}")
    for what, why in rep.skipped:
        print(f"  skipped {what}: {why}")
    return 0
