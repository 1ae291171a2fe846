"""Building a dataset from survey files (through ``starlux build-dataset``): spectra and
catalogues -> a dataset file train/predict can read (bad requests:
tests/commands/test_build_dataset.py)."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from io_helpers import (
    ALLSTAR,
    APSTAR_REAL,
    APSTAR_REAL_3VISITS,
    GALAH,
    OVERLAP_IDS,
    make_apstar,
    make_aspcapstar,
    shared,
)

from starlux.cli import main
from starlux.io.datasets import read_dataset


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["build-dataset", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_real_apstar_files_become_a_continuum_normalised_dataset(tmp_path, capsys):
    out = tmp_path / "ds.h5"
    spectra = shared(*APSTAR_REAL).parent / "apStar-dr17-*.fits"
    rc, stdout, err = cli(["--spectra", spectra, "--out", out], capsys)
    assert rc == 0, err
    assert "read 2 spectra (2 apStar)" in stdout and "continuum-normalised 2" in stdout
    ds = read_dataset(out)
    assert list(ds.outputs) == ["flux"] and ds["flux"].dim == 8575
    assert sorted(ds.ids.tolist()) == ["2M17335483-2753043", "2M19485057+5005279"]
    med = np.nanmedian(np.where(ds["flux"].missing, np.nan, ds["flux"].values), axis=1)
    assert np.all(np.abs(med - 1) < 0.1)
    assert ds.extras["spectrum_kind"].tolist() == ["apStar", "apStar"]
    rc, _, _ = cli(["--spectra", shared(*APSTAR_REAL_3VISITS), "--grid", "aspcap",
                    "--out", tmp_path / "gapless.npz"], capsys)
    assert rc == 0 and read_dataset(tmp_path / "gapless.npz")["flux"].dim == 7514


def test_aspcapstar_spectra_are_used_as_they_are(tmp_path, capsys):
    ex = np.load(shared("apogee-real-spectra", "apogee_dr14_example.npz"))
    asp = make_aspcapstar(tmp_path / "aspcapStar-x.fits", "2M08002084+4044415",
                          ex["normalized_flux"], ex["normalized_error"])
    aps = make_apstar(tmp_path / "apStar-y.fits", "2M00000001+0000001")
    rc, stdout, err = cli(["--spectra", asp, aps, "--grid", "aspcap", "--out",
                           tmp_path / "mixed.h5"], capsys)
    assert rc == 0, err
    ds = read_dataset(tmp_path / "mixed.h5")
    i = ds.ids.tolist().index("2M08002084+4044415")
    assert np.array_equal(ds["flux"].values[i], ex["normalized_flux"])  # untouched
    assert abs(np.nanmedian(ds["flux"].values[1 - i]) - 1) < 0.1        # normalised
    assert "continuum-normalised 1 spectra" in stdout


def _overlap_spectra(tmp_path, ids=OVERLAP_IDS):
    return [make_apstar(tmp_path / f"apStar-{i}.fits", oid, seed=i)
            for i, oid in enumerate(ids)]


def test_apogee_flux_with_galah_labels_for_label_transfer(tmp_path, capsys):
    files = _overlap_spectra(tmp_path)
    out = tmp_path / "transfer.h5"
    rc, stdout, err = cli(
        ["--spectra", *files,
         "--catalog", shared(*ALLSTAR), "--labels", "TEFF", "LOGG", "FE_H",
         "--catalog", shared(*GALAH), "--labels", "teff", "logg", "fe_h", "Mg_fe",
         "--match-on", "apogee_id", "gaia_source_id", "--out", out], capsys)
    assert rc == 0, err
    assert "matched 3 of 3 (spectra)" in stdout and "on gaia_source_id" in stdout
    ds = read_dataset(out)
    assert sorted(ds.outputs) == ["flux", "galah", "label"]
    assert ds["galah"].names == ("teff", "logg", "fe_h", "Mg_fe")
    assert ds.ids.tolist() == list(OVERLAP_IDS)
    assert (ds.extras["gaia_source_id"] > 0).all()
    # GALAH labels as THE label output, matched by 2MASS id straight to the spectra
    rc, _, err = cli(["--spectra", *files, "--catalog", shared(*GALAH), "--labels", "teff",
                      "--output-name", "label", "--out", tmp_path / "g.h5"], capsys)
    assert rc == 0, err
    assert read_dataset(tmp_path / "g.h5")["label"].names == ("teff",)


def test_two_catalogues_alone_match_on_their_twelve_shared_stars(tmp_path, capsys):
    rc, stdout, err = cli(
        ["--catalog", shared(*ALLSTAR), "--labels", "TEFF", "LOGG",
         "--catalog", shared(*GALAH), "--labels", "teff", "logg",
         "--match-on", "gaia_source_id", "--out", tmp_path / "labels.csv"], capsys)
    assert rc == 0, err
    assert "matched 12 of 1612" in stdout
    ds = read_dataset(tmp_path / "labels.csv")
    assert ds.n == 12 and list(ds.outputs) == ["label", "galah"]


def test_unmatched_and_all_flagged_objects_are_refused_kept_or_dropped(tmp_path, capsys):
    files = _overlap_spectra(tmp_path, OVERLAP_IDS + ("2M00000009+0000009",))
    cat = Table({"APOGEE_ID": list(OVERLAP_IDS), "TEFF": [4500.0, 4600.0, 4700.0],
                 "TEFF_ERR": [50.0] * 3, "MG_FE": [0.1, 0.2, 0.3], "MG_FE_ERR": [0.02] * 3,
                 "MG_FE_FLAG": [0, 0, 0],
                 "ASPCAPFLAG": np.array([0, 1 << 23, 0], dtype=np.int64)})
    cat.write(tmp_path / "allStar-mini.fits")
    base = ["--spectra", *files, "--catalog", tmp_path / "allStar-mini.fits",
            "--labels", "TEFF", "MG_FE"]
    rc, _, err = cli([*base, "--out", tmp_path / "a.h5"], capsys)
    assert rc == 2 and "allStar-mini.fits: 1 matched object(s) have every label" in err
    assert "--drop-empty" in err
    rc, stdout, err = cli([*base, "--drop-empty", "--out", tmp_path / "a.h5"], capsys)
    assert rc == 0, err
    assert read_dataset(tmp_path / "a.h5").ids.tolist() == [OVERLAP_IDS[0], OVERLAP_IDS[2]]
    rc, stdout, err = cli([*base, "--drop-empty", "--keep-unmatched",
                           "--out", tmp_path / "b.h5"], capsys)
    assert rc == 0, err
    ds = read_dataset(tmp_path / "b.h5")
    assert ds.n == 3 and ds["label"].missing[-1].all()
    assert "1 object(s) without a match" in stdout


def test_bad_pixels_zero_flux_and_low_ivar_are_missing(tmp_path, capsys):
    from astropy.io import fits

    path = make_apstar(tmp_path / "apStar-z.fits", "2M00000001+0000001",
                       bad=(1000,), bad_bit=3)
    with fits.open(path, mode="update") as h:
        h[1].data[2000] = 0.0      # zero flux
        h[2].data[3000] = 1e6      # huge error -> inverse variance < 0.1 after normalising
    rc, stdout, err = cli(["--spectra", path, "--out", tmp_path / "z.h5"], capsys)
    assert rc == 0, err
    flux = read_dataset(tmp_path / "z.h5")["flux"]
    assert flux.missing[0, [1000, 2000, 3000]].all()
    assert flux.missing[0, 1500] == np.False_
    assert flux.ivar()[0, [1000, 2000, 3000]].tolist() == [0.0, 0.0, 0.0]
    assert "bitmask: 1" in stdout and "flux == 0: 1" in stdout
    assert "inverse variance < 0.1: 1" in stdout


def test_a_catalogue_without_an_id_column_is_refused_naming_it(tmp_path, capsys):
    files = _overlap_spectra(tmp_path, OVERLAP_IDS[:1])
    (tmp_path / "noid.csv").write_text("teff,teff_err\n4500,50\n")
    rc, _, err = cli(["--spectra", *files, "--catalog", tmp_path / "noid.csv",
                      "--labels", "teff", "--out", tmp_path / "x.h5"], capsys)
    assert rc == 2 and "noid.csv: catalogue has no apogee_id column" in err
