"""FITS in: lazy reading, scaled and blank pixels, cubes, and the WCS kept in the outputs."""

import os
from pathlib import Path

import numpy as np
import pytest
import skimage.color
import skimage.data

fits = pytest.importorskip("astropy.io.fits")
from astropy.wcs import WCS  # noqa: E402

import napari_colorgan as ncg  # noqa: E402
from napari_colorgan.io.fits import open_fits, wcs_cards  # noqa: E402
from napari_colorgan.io.readers import open_image  # noqa: E402


def _sky_wcs(shape):
    """A tangent-plane WCS near the Hubble Deep Field, 0.04 arcsec pixels, rotated 30 deg."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [189.2286, 62.2161]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    scale = 0.04 / 3600
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    wcs.wcs.cd = [[-scale * c, scale * s], [scale * s, scale * c]]
    wcs.wcs.radesys = "ICRS"
    return wcs


@pytest.fixture(scope="module")
def deep_field():
    """The Hubble Deep Field in gray, as photon-like float counts (not in [0, 1])."""
    gray = skimage.color.rgb2gray(skimage.data.hubble_deep_field()[:192, :256])
    return (gray * 4000 + 120).astype(np.float32)


@pytest.fixture
def field_file(tmp_path, deep_field):
    path = tmp_path / "field.fits"
    fits.PrimaryHDU(deep_field, header=_sky_wcs(deep_field.shape).to_header()).writeto(path)
    return path


def test_fits_opens_lazily_as_stored(field_file, deep_field):
    image, scale = open_image(field_file)
    assert type(image).__module__.startswith("dask") and scale is None
    assert image.shape == deep_field.shape and image.dtype == np.float32
    np.testing.assert_array_equal(image[10:20].compute(), deep_field[10:20])


def test_scaled_integers_and_blank_become_nan(tmp_path, deep_field):
    raw = np.rint(deep_field / 2).astype(np.int16)
    raw[5:9, 5:9] = -32768
    hdu = fits.PrimaryHDU(raw)
    hdu.header.update(BSCALE=2.0, BZERO=10.0, BLANK=-32768)
    hdu.writeto(tmp_path / "scaled.fits")
    image = open_fits(tmp_path / "scaled.fits").compute()
    assert np.isnan(image[5:9, 5:9]).all()
    np.testing.assert_allclose(image[20:30], raw[20:30] * 2.0 + 10.0)


def test_compressed_cube_after_an_empty_primary(tmp_path, deep_field):
    cube = np.stack([deep_field, deep_field[::-1], deep_field[:, ::-1]])
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(cube, compression_type="RICE_1")])
    hdul.writeto(tmp_path / "cube.fits.fz")
    image, _ = open_image(tmp_path / "cube.fits.fz")
    assert image.shape == cube.shape and image.chunksize[0] == 1
    # RICE quantises floats: within a small fraction of the range
    np.testing.assert_allclose(image[1].compute(), cube[1], atol=0.01 * np.ptp(cube))


def test_a_table_only_file_is_refused(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "t.fits")
    with pytest.raises(ValueError, match="no image HDU"):
        open_fits(tmp_path / "t.fits")


def test_wcs_cards_rebuild_the_sky_position(field_file, deep_field):
    cards = wcs_cards(field_file)
    sky = WCS(cards).pixel_to_world(30.5, 100.0)
    truth = _sky_wcs(deep_field.shape).pixel_to_world(30.5, 100.0)
    assert sky.separation(truth).arcsec < 1e-6


def test_wcs_survives_into_ome_zarr_and_tiff(field_file, deep_field, tmp_path):
    import tifffile
    import zarr

    truth = _sky_wcs(deep_field.shape).pixel_to_world([0, 200], [0, 150])
    zarr_out = ncg.colorize_to_file(field_file, tmp_path / "field.ome.zarr", "astronomy")
    attrs = zarr.open_group(zarr_out, mode="r").attrs
    sky = WCS(attrs["colorgan"]["fits_wcs"]).pixel_to_world([0, 200], [0, 150])
    assert sky.separation(truth).arcsec.max() < 1e-6

    tif_out = ncg.colorize_to_file(field_file, tmp_path / "field.tif", "astronomy")
    with tifffile.TiffFile(tif_out) as tif:
        text = tif.pages[0].description
    header = fits.Header.fromstring(text, sep="\n")
    sky = WCS(header).pixel_to_world([0, 200], [0, 150])
    assert sky.separation(truth).arcsec.max() < 1e-6
    rgb = tifffile.imread(tif_out)
    assert rgb.shape == (*deep_field.shape, 3)
    assert rgb.std() > 1  # a picture, not a constant


def test_fits_float_counts_are_stretched_by_percentiles(field_file, deep_field):
    """Counts far outside [0, 1]: the default normalisation uses global percentiles."""
    from napari_colorgan.io.scaling import intensity_range

    low, high, _ = intensity_range(open_fits(field_file), "auto")
    np.testing.assert_allclose((low, high), np.percentile(deep_field, (0.1, 99.9)), rtol=0.02)


def test_cli_fits_cube_to_ome_zarr(tmp_path, deep_field):
    import zarr

    from napari_colorgan.cli import main

    cube = np.stack([deep_field, deep_field[::-1]])
    header = _sky_wcs(deep_field.shape).to_header()
    fits.PrimaryHDU(cube, header=header).writeto(tmp_path / "cube.fits")
    out = tmp_path / "cube.ome.zarr"
    args = ["colorize", str(tmp_path / "cube.fits"), str(out), "--model", "astronomy", "--quiet"]
    assert main(args) == 0
    group = zarr.open_group(out, mode="r")
    assert group["0"].shape == (3, 2, *deep_field.shape)
    assert group.attrs["colorgan"]["fits_wcs"]["CTYPE1"] == "RA---TAN"


def test_a_changed_file_is_read_as_it_is_now(tmp_path, deep_field):
    path = tmp_path / "field.fits"
    fits.PrimaryHDU(deep_field).writeto(path)
    np.testing.assert_array_equal(open_fits(path).compute(), deep_field)
    other = (deep_field[::-1] * 2).astype(np.int32)  # another type, another header
    fits.PrimaryHDU(other).writeto(path, overwrite=True)
    image = open_fits(path)
    assert image.dtype == np.int32
    np.testing.assert_array_equal(image.compute(), other)


def test_few_fits_files_stay_open(tmp_path, deep_field):
    from napari_colorgan.io.fits import OPEN_FILES

    paths = []
    for i in range(OPEN_FILES + 6):
        paths.append(tmp_path / f"f{i}.fits")
        fits.PrimaryHDU(deep_field[:16] + i).writeto(paths[-1])
        assert float(open_fits(paths[-1])[0, 0].compute()) == deep_field[0, 0] + i
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("counting open files needs /proc")
    held = [os.readlink(fd) for fd in fds.iterdir() if _link(fd).endswith(".fits")]
    assert 0 < len(held) <= OPEN_FILES


def _link(fd):
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def test_a_broken_wcs_names_the_file_and_the_image_still_colourises(tmp_path, deep_field):
    header = _sky_wcs(deep_field.shape).to_header()
    header["CTYPE1"] = "RA---XYZ"  # a projection wcslib does not know
    path = tmp_path / "broken.fits"
    fits.PrimaryHDU(deep_field, header=header).writeto(path)
    with pytest.warns(UserWarning, match=r"broken.fits has a world coordinate system") as seen:
        assert wcs_cards(path) is None
    assert "wcs.c" not in str(seen[0].message) and "XYZ" in str(seen[0].message)


def test_a_damaged_compressed_tile_is_one_line(tmp_path, deep_field, capsys):
    from napari_colorgan.cli import main

    path = tmp_path / "cube.fz"
    counts = deep_field.astype(np.int16)
    tiles = fits.CompImageHDU(counts, compression_type="RICE_1")
    fits.HDUList([fits.PrimaryHDU(), tiles]).writeto(path)
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) - 100):  # scramble the later tiles' bytes
        data[i] = (data[i] * 7 + 3) % 256
    path.write_bytes(bytes(data))
    code = main(["colorize", str(path), str(tmp_path / "out.png"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "cannot decode" in err
    assert "cube.fz" in err and not (tmp_path / "out.png").exists()
