"""Lazy colourisation of dask and zarr arrays: exact, chunked, reads only what it needs."""

import dask.array as da
import numpy as np
import pytest
import skimage.data
import zarr

import napari_colorgan as ncg


@pytest.fixture(scope="module")
def stack():
    moon = skimage.data.moon()[:200, :264].astype(np.uint16) * 100
    return np.stack([moon, moon[::-1], moon[:, ::-1], moon // 2])


@pytest.fixture(scope="module")
def model(random_generator):
    return random_generator


@pytest.mark.parametrize("chunks", [(1, 64, 64), (2, 100, 264), (4, 200, 264)])
def test_dask_result_is_lazy_and_equals_numpy(stack, model, chunks):
    reference = ncg.colorize(stack, model)
    lazy = ncg.colorize(da.from_array(stack, chunks=chunks), model, tile_size=96)
    assert isinstance(lazy, da.Array) and lazy.shape == (*stack.shape, 3)
    assert lazy.chunks[0] == (1, 1, 1, 1) and lazy.chunks[-1] == (3,)
    assert np.abs(lazy.compute() - reference).max() <= 1 / 255


def test_one_slice_reads_only_its_plane(stack, model, counting_array):
    source = counting_array(stack)
    lazy = ncg.colorize(da.from_array(source, chunks=(1, 100, 132)), model)
    assert source.planes_read == {0, 1, 2, 3}  # the global statistics read everything once
    source.planes_read.clear()
    plane = lazy[2].compute()
    assert source.planes_read == {2}
    np.testing.assert_allclose(plane, ncg.colorize(stack, model)[2], atol=1 / 255)


def test_zarr_input(stack, model, tmp_path):
    z = zarr.open_array(
        tmp_path / "s.zarr", mode="w", shape=stack.shape, chunks=(1, 100, 100), dtype=stack.dtype
    )
    z[:] = stack
    lazy = ncg.colorize(z, model)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy[1].compute(), ncg.colorize(stack, model)[1], atol=1 / 255)


def test_global_normalisation_is_shared_by_all_chunks(stack, model):
    """The dim plane stays dim: statistics are global, not per chunk."""
    out = ncg.colorize(da.from_array(stack, chunks=(1, 64, 64)), model).compute()
    assert out[3].mean() < 0.8 * out[0].mean()


def test_lazy_render_scale_equals_numpy(stack, model):
    reference = ncg.colorize(stack[:2], model, render_scale=2)
    lazy = ncg.colorize(da.from_array(stack[:2], chunks=(1, 64, 64)), model, render_scale=2)
    assert np.abs(lazy.compute() - reference).max() <= 1 / 255
