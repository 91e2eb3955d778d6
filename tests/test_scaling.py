"""Whole-image statistics from a bounded read: the same in memory, dask and zarr; cheap on huge."""

import dask.array as da
import numpy as np
import pytest
import skimage.data
import zarr

from napari_colorgan.io.scaling import SAMPLE_PIXELS, bounded_sample, intensity_range


@pytest.fixture(scope="module")
def large16() -> np.ndarray:
    """A 16-bit camera-like mosaic above the sample budget, tiled from a real image."""
    moon = skimage.data.moon().astype(np.uint16) * 16 + 100
    return np.tile(moon, (9, 9))  # 4608 x 4608, 21 M pixels


def test_small_images_are_read_whole(camera):
    assert bounded_sample(camera).shape == camera.shape
    assert intensity_range(camera.astype(np.uint16)) == (
        *(float(v) for v in np.percentile(camera, (0.1, 99.9))), False
    )


def test_sample_is_bounded_and_the_same_eagerly_and_lazily(large16, tmp_path):
    assert large16.size > SAMPLE_PIXELS
    eager = bounded_sample(large16)
    assert eager.size <= SAMPLE_PIXELS
    store = zarr.open(str(tmp_path / "m.zarr"), mode="w", shape=large16.shape,
                      chunks=(700, 900), dtype=large16.dtype)
    store[:] = large16
    for lazy in (da.from_array(large16, chunks=(1000, 333)), store, da.from_zarr(store)):
        np.testing.assert_array_equal(bounded_sample(lazy), eager)
    low, high, _ = intensity_range(large16)
    full = np.percentile(large16, (0.1, 99.9))
    assert abs(low - full[0]) < 0.01 * (full[1] - full[0])
    assert abs(high - full[1]) < 0.01 * (full[1] - full[0])


def test_huge_store_reads_a_bounded_number_of_chunks():
    reads = []

    def count(block, block_info=None):
        reads.append(block_info[0]["chunk-location"])
        return block

    huge = da.zeros((10**6, 10**6), dtype=np.uint16, chunks=(4096, 4096))
    huge = huge.map_blocks(count, dtype=np.uint16)
    assert intensity_range(huge) == (0.0, 1.0, False)
    assert 0 < len(reads) <= 4 * (SAMPLE_PIXELS // 256**2)  # a window spans up to 4 chunks


def test_an_absurd_store_is_refused_at_once_with_its_size_and_time():
    import time

    import napari_colorgan as ncg

    absurd = da.zeros((10**9, 10**9), dtype=np.uint16, chunks=(4096, 4096))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"1e\+18 pixels.*years at 1 MP/s.*pyramid level"):
        ncg.colorize(absurd, "general")
    assert time.perf_counter() - start < 5  # refused before any read or model load


def test_a_huge_store_gives_its_lazy_result_at_once(tmp_path):
    import time

    import napari_colorgan as ncg

    store = zarr.open(str(tmp_path / "huge.zarr"), mode="w", shape=(100_000, 100_000),
                      chunks=(1024, 1024), dtype=np.uint16)
    start = time.perf_counter()
    lazy = ncg.colorize(store, "general")
    assert time.perf_counter() - start < 20  # a generous bound: 0.3 s of statistics measured
    assert lazy.shape == (100_000, 100_000, 3)


@pytest.mark.parametrize("fixed", [(0, 4095), [0, 4095], np.array([0, 4095])])
def test_a_fixed_range_is_read_from_any_pair(camera, fixed):
    """A tuple, a list or a numpy pair fixes the range, read as it is (not as light)."""
    import napari_colorgan as ncg

    counts = camera.astype(np.uint16) * 16
    assert intensity_range(counts, fixed) == (0.0, 4095.0, False)
    np.testing.assert_array_equal(
        ncg.colorize(counts[:64, :96], "general", normalize=fixed),
        ncg.colorize(counts[:64, :96], "general", normalize=(0.0, 4095.0)),
    )
