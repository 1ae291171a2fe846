"""``starlux build-dataset``: survey spectra (APOGEE, or Gaia XP) and catalogues in, one
dataset file out (the pipeline is :mod:`starlux.io.build`)."""

from __future__ import annotations

import argparse
import logging

from ..data import DataError
from ..io.crossmatch import ID_KEYS
from ..io.paths import check_distinct_files, check_output
from .options import add_list_option, split_values

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``build-dataset`` options to ``parser``."""
    add_list_option(parser, "--spectra", metavar="PATH_OR_GLOB",
                    help="apStar / aspcapStar / apVisit files, glob patterns or folders")
    parser.add_argument("--xp", metavar="FILE", default=None,
                        help="Gaia XP spectra instead of --spectra: sampled (the archive's "
                             "XP_SAMPLED, gaiaxpy.calibrate output, the APOGEE x XP table) "
                             "or an XP_CONTINUOUS coefficient table (.csv, .ecsv, .fits, "
                             ".fits.gz, .xml, .avro); ids are Gaia source_id")
    add_list_option(parser, "--xp-labels", unique=True, metavar="NAME", default=[],
                    help="label columns of the --xp file itself (with NAME_err), as "
                         "output 'label' (e.g. teff logg fe_h alpha_m)")
    parser.add_argument("--xp-photometry", metavar="BAND", default=None, nargs="*",
                        help="also read the --xp file's photometry as output 'phot': "
                             "magnitudes relative to --xp-photometry-reference (BP-G, RP-G, "
                             "J-G, H-G, K-G in mag), an input the latents are inferred from, "
                             "with errors and covariance; no BAND: every band found (Gaia "
                             "G, BP, RP; 2MASS J, H, Ks), else the bands named (e.g. G BP RP)")
    parser.add_argument("--xp-photometry-reference", default="G", metavar="BAND",
                        help="the band the other magnitudes are relative to (default: G)")
    parser.add_argument("--xp-representation", choices=["sampled", "coefficients"],
                        default="sampled",
                        help="XP_CONTINUOUS input: sample the spectra on a grid through "
                             "GaiaXPy, or keep the 110 coefficients with their full "
                             "covariance (written as flux_cov)")
    parser.add_argument("--xp-sampling", metavar="START:STOP:STEP", default=None,
                        help="grid in nm for sampling XP_CONTINUOUS spectra, STOP included "
                             "(default: GaiaXPy's 336:1020:2), or the grid of a sampled "
                             "file that does not store one")
    parser.add_argument("--xp-truncation", action="store_true",
                        help="use only each band's n_relevant_bases coefficients "
                             "(GaiaXPy's truncation)")
    parser.add_argument("--xp-on-bad", choices=["mask", "error"], default="mask",
                        help="a bad XP band (truncated correlations, NaN coefficients, "
                             "covariance not positive definite ...): mask its entries with "
                             "a warning (a source with no usable band is dropped), or stop")
    parser.add_argument("--catalog", action="append", metavar="FILE", default=[],
                        help="label catalogue (allStar, GALAH DR3, or a FITS/CSV/Parquet "
                             "table); repeat for several")
    add_list_option(parser, "--labels", append=True, unique=True, metavar="NAME",
                    default=[],
                    help="label columns to take from the matching --catalog (one --labels "
                         "list per --catalog)")
    parser.add_argument("--catalog-kind", action="append", default=[],
                        choices=["auto", "allstar", "galah", "table"],
                        help="kind of each --catalog (default: auto-detect)")
    parser.add_argument("--output-name", action="append", default=[], metavar="NAME",
                        help="dataset output name for each --catalog (default: 'label' "
                             "for the first, then 'galah' / 'allstar' / 'labelN')")
    add_list_option(parser, "--match-on", default=[], item_choices=list(ID_KEYS),
                    metavar="{apogee_id,gaia_source_id}",
                    help="id to cross-match on: one for all catalogues, or one each "
                         "(default: apogee_id; gaia_source_id with --xp)")
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                        help="continuum-normalise apStar/apVisit spectra (default: yes; "
                             "aspcapStar spectra are always used as they are); for --xp, "
                             "divide each spectrum by its median (files already normalised "
                             "are kept)")
    parser.add_argument("--continuum", choices=["pixels", "fit"], default="pixels",
                        help="continuum method: fixed continuum pixels or an iterative fit")
    parser.add_argument("--grid", default="apstar", metavar="GRID",
                        help="'apstar' (8575 px), 'aspcap' (7514 px, chip gaps removed), "
                             "'payne' (7214 px) or a file with wavelengths")
    parser.add_argument("--resample", action="store_true",
                        help="resample spectra that are not on the grid (apVisit always is)")
    parser.add_argument("--row", type=int, default=0,
                        help="apStar row to read (0 = combined spectrum)")
    parser.add_argument("--keep-unmatched", action="store_true",
                        help="keep spectra without a catalogue match (labels missing)")
    parser.add_argument("--drop-empty", action="store_true",
                        help="drop matched objects whose labels are all flagged")
    parser.add_argument("--on-duplicate", choices=["error", "first"], default="error",
                        help="duplicated ids: stop with an error, or keep the first")
    parser.add_argument("--out", required=True, metavar="DATASET_FILE",
                        help="output dataset (.h5, .npz, .fits; .csv/.parquet for labels only)")


def _catalog_specs(args: argparse.Namespace) -> list:
    from ..io.build import CatalogSpec

    cats, labels = list(args.catalog or []), list(args.labels or [])
    if len(cats) != len(labels):
        raise DataError(f"give one --labels list per --catalog ({len(cats)} --catalog, "
                        f"{len(labels)} --labels)")

    def per_catalog(values: list[str], what: str, default: str) -> list[str]:
        if not values:
            return [default] * len(cats)
        if len(values) == 1:
            return values * len(cats)
        if len(values) != len(cats):
            raise DataError(f"give one {what} for all catalogues or one per --catalog "
                            f"({len(values)} for {len(cats)})")
        return list(values)

    kinds = per_catalog(list(args.catalog_kind or []), "--catalog-kind", "auto")
    keys = per_catalog(list(args.match_on or []), "--match-on",
                       "gaia_source_id" if getattr(args, "xp", None) else "apogee_id")
    names = list(args.output_name or [])
    if names and len(names) != len(cats):
        raise DataError(f"give one --output-name per --catalog ({len(names)} for {len(cats)})")
    return [CatalogSpec(path=c, labels=list(lab), output=names[i] if names else None,
                        kind=str(kinds[i]), match_on=str(keys[i]))
            for i, (c, lab) in enumerate(zip(cats, labels, strict=True))]


def run(args: argparse.Namespace) -> int:
    """Run ``build-dataset`` (errors are turned into one line by :mod:`starlux.cli`)."""
    from ..io.build import XPSpec, build_from_files
    from ..io.datasets import write_dataset
    from ..io.gaiaxp import parse_sampling
    from ..io.locks import output_lock

    if not args.spectra and not args.catalog and not args.xp:
        raise DataError("give --spectra and/or --catalog (or Gaia XP spectra with --xp)")
    if args.spectra and args.xp:
        raise DataError("give APOGEE spectra (--spectra) or Gaia XP spectra (--xp), not both")
    xp_only = {"--xp-labels": bool(args.xp_labels), "--xp-sampling": args.xp_sampling,
               "--xp-truncation": args.xp_truncation,
               "--xp-representation": args.xp_representation != "sampled",
               "--xp-photometry": args.xp_photometry is not None,
               "--xp-photometry-reference": args.xp_photometry_reference != "G"}
    given = [k for k, v in xp_only.items() if v]
    if given and not args.xp:
        raise DataError(f"{given[0]} needs --xp")
    check_distinct_files(args.catalog, "--catalog")
    check_output(args.out, [*(args.spectra or []), *args.catalog, args.xp])
    specs = _catalog_specs(args)
    xp = None
    if args.xp:
        xp = XPSpec(path=args.xp, labels=list(args.xp_labels or []),
                    representation=args.xp_representation,
                    sampling=None if args.xp_sampling is None
                    else parse_sampling(args.xp_sampling),
                    truncation=args.xp_truncation, normalize=args.normalize is not False,
                    on_bad=args.xp_on_bad,
                    photometry=(False if args.xp_photometry is None
                                else split_values(args.xp_photometry) or True),
                    photometry_reference=args.xp_photometry_reference)
    with output_lock(args.out):
        result = build_from_files(
            args.spectra, specs, normalize=args.normalize,
            continuum=args.continuum, grid=args.grid, resample=args.resample, row=args.row,
            keep_unmatched=args.keep_unmatched, drop_empty=args.drop_empty,
            on_duplicate=args.on_duplicate, xp=xp)
        write_dataset(args.out, result.dataset)
    for line in result.report:
        log.info(line)
    log.info(f"wrote {args.out}: {result.dataset.n} objects, outputs "
             f"{list(result.dataset.outputs)}")
    return 0
