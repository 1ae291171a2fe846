"""Opening FITS files so that every failure names the file."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from starlux.io._fitsutil import hdu_array, header_value, open_fits
from starlux.io.errors import FileFormatError


@pytest.fixture
def spectrum(tmp_path):
    path = tmp_path / "apStar-x.fits"
    prim = fits.PrimaryHDU()
    prim.header["OBJID"] = "  2M00000001+0000001 "
    img = fits.ImageHDU(np.arange(6.0).reshape(2, 3))
    img.header["SNR"] = 88.0
    fits.HDUList([prim, img]).writeto(path)
    return path


def test_a_readable_file_is_read_whole_with_its_images_and_header_values(spectrum):
    with open_fits(spectrum) as hdul:
        flux = hdu_array(hdul, 1, spectrum, "flux")
        assert flux.dtype == np.float64 and flux.tolist() == [[0, 1, 2], [3, 4, 5]]
        assert header_value(hdul, ("OBJID",)) == "2M00000001+0000001"
        assert header_value(hdul, ("NOPE", "SNR")) == 88.0  # from HDU 1
        assert header_value(hdul, ("NOPE",), default="?") == "?"


def test_a_missing_hdu_or_one_without_an_image_is_named(spectrum):
    with open_fits(spectrum) as hdul:
        with pytest.raises(FileFormatError, match=r"apStar-x\.fits: has 2 HDUs; expected "
                                                  r"the error in HDU 2"):
            hdu_array(hdul, 2, spectrum, "error")
        with pytest.raises(FileFormatError, match=r"HDU 0 \(flux\) holds no image data"):
            hdu_array(hdul, 0, spectrum, "flux")


def test_a_missing_truncated_foreign_or_dataset_file_is_named_with_the_reason(spectrum,
                                                                            tmp_path):
    with pytest.raises(FileFormatError, match=r"absent\.fits: no such file"):
        open_fits(tmp_path / "absent.fits")
    with pytest.raises(FileFormatError, match="is a directory, not a FITS file"):
        open_fits(tmp_path)
    (tmp_path / "d.h5").write_bytes(b"x")
    with pytest.raises(FileFormatError, match=r"d\.h5: is a \.h5 file, not FITS"):
        open_fits(tmp_path / "d.h5")
    cut = tmp_path / "cut.fits"
    raw = spectrum.read_bytes()
    cut.write_bytes(raw[: len(raw) - 1000])  # into the image data
    with pytest.raises(FileFormatError, match=r"cut\.fits: file is truncated"):
        open_fits(cut)
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not FITS at all\n" * 300)
    with pytest.raises(FileFormatError, match=r"junk\.fits: cannot read as FITS"):
        open_fits(junk)
