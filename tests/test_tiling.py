import numpy as np
import pytest
import skimage.data
import torch

from napari_colorgan.engine.runner import colorize_plane
from napari_colorgan.engine.tiling import tile_grid


@pytest.mark.parametrize("shape", [(100, 37), (512, 512), (333, 650)])
@pytest.mark.parametrize("tile", [8, 64, 200])
def test_grid_covers_every_pixel_once(shape, tile):
    count = np.zeros(shape, int)
    for t in tile_grid(shape, tile, halo=64, stride=8):
        count[t.target] += 1
        window = (t.window[0].stop - t.window[0].start, t.window[1].stop - t.window[1].start)
        kept = (t.keep[0].stop - t.keep[0].start, t.keep[1].stop - t.keep[1].start)
        target = (t.target[0].stop - t.target[0].start, t.target[1].stop - t.target[1].start)
        assert kept == target and all(k <= w for k, w in zip(kept, window))
        assert t.window[0].start % 8 == 0 and t.window[1].start % 8 == 0
    assert (count == 1).all()


def test_grid_rejects_bad_settings():
    with pytest.raises(ValueError, match="tile_size must be positive"):
        tile_grid((10, 10), 0, 8, 8)
    with pytest.raises(ValueError, match="multiple of the stride"):
        tile_grid((10, 10), 16, 12, 8)


@pytest.mark.parametrize("tile_size", [24, 100, 256])  # 24 and 100 are smaller than 2 halos
def test_tiled_equals_whole_image(random_generator, tile_size):
    """Crop-and-stitch is exact: same pixels as one whole-image pass, on a real image."""
    gray = skimage.data.moon()[:300, :437].astype(np.float32) / 255  # not a multiple of any tile
    whole = np.zeros((*gray.shape, 3), np.float32)
    list(colorize_plane(random_generator, gray, whole, tile_size=10_000))
    tiled = np.zeros_like(whole)
    progress = list(
        colorize_plane(random_generator, gray, tiled, tile_size=tile_size, batch_size=3)
    )
    assert progress[-1][0] == progress[-1][1] > 1
    assert np.abs(tiled - whole).max() <= 1 / 255
    assert whole.std() > 0.01  # the random net makes real colour, so equality is not trivial


class _OutOfMemoryAbove:
    """The real generator, failing like a full GPU when a batch holds more than ``limit`` tiles."""

    def __init__(self, net, limit):
        self.net, self.limit, self.batches = net, limit, []

    def __getattr__(self, name):
        return getattr(self.net, name)

    def __call__(self, x):
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        self.batches.append(x.shape[0])
        return self.net(x)


def test_out_of_memory_halves_the_batch(random_generator):
    gray = skimage.data.moon()[:200, :200].astype(np.float32) / 255
    whole = np.zeros((*gray.shape, 3), np.float32)
    list(colorize_plane(random_generator, gray, whole, tile_size=10_000))
    flaky = _OutOfMemoryAbove(random_generator, limit=2)
    out = np.zeros_like(whole)
    list(colorize_plane(flaky, gray, out, tile_size=64, batch_size=8))
    assert max(flaky.batches) == 2 and sum(flaky.batches) == 16
    assert np.abs(out - whole).max() <= 1 / 255
    with pytest.raises(MemoryError, match="lower tile_size"):
        list(colorize_plane(_OutOfMemoryAbove(random_generator, 0), gray, out, tile_size=64))


@pytest.mark.parametrize("render_scale", [2, 4])
def test_render_scale_tiles_exactly_and_keeps_lightness(random_generator, render_scale):
    from napari_colorgan.color import gray_to_lightness, rgb_to_lab

    gray = skimage.data.moon()[:300, :437].astype(np.float32) / 255
    whole = np.zeros((*gray.shape, 3), np.float32)
    list(colorize_plane(random_generator, gray, whole, tile_size=10_000, render_scale=render_scale))
    tiled = np.zeros_like(whole)
    list(colorize_plane(random_generator, gray, tiled, tile_size=96, render_scale=render_scale))
    assert np.abs(tiled - whole).max() <= 1 / 255
    L = rgb_to_lab(torch.from_numpy(whole), channel_axis=-1)[..., 0]
    assert (L - gray_to_lightness(torch.from_numpy(gray))).abs().max() < 0.05
    with pytest.raises(ValueError, match="render_scale must be one of"):
        list(colorize_plane(random_generator, gray, tiled, render_scale=3))


def test_gaussian_blend_hides_seams_of_a_short_halo(random_generator):
    """With a halo far below the receptive field, crop-and-stitch shows seams; blending
    overlapping windows keeps the result closer to the whole-image pass."""
    import napari_colorgan as ncg

    gray = skimage.data.moon()[:256, :256]
    whole = ncg.colorize(gray, random_generator, tile_size=10_000)
    stitched = ncg.colorize(gray, random_generator, tile_size=64, overlap=8)
    blended = ncg.colorize(gray, random_generator, tile_size=64, overlap=8, blend="gaussian")
    assert np.abs(blended - whole).mean() < np.abs(stitched - whole).mean()
    assert ncg.colorize(gray, random_generator, blend="gaussian").shape == whole.shape
    with pytest.raises(ValueError, match="blend must be one of"):
        ncg.colorize(gray, random_generator, blend="linear")


def test_region_tiles_cover_only_it_with_context_outside():
    """A lazy chunk's own pixels, tiled from their first pixel; windows reach the halo."""
    tiles = tile_grid((1152, 1152), 512, 64, 8, region=((64, 1088), (64, 1088)))
    assert len(tiles) == 4  # 1024 px kept per side: two 512 px tiles, not three
    targets = {(t.target[0].start, t.target[0].stop) for t in tiles}
    assert targets == {(64, 576), (576, 1088)}
    assert {(t.window[0].start, t.window[0].stop) for t in tiles} == {(0, 640), (512, 1152)}
    with pytest.raises(ValueError, match="multiples of the stride 8"):
        tile_grid((100, 100), 32, 8, 8, region=((4, 100), (0, 100)))


def test_clipped_edge_windows_compute_fewer_pixels_and_keep_the_same_pixels(random_generator):
    """One forward per window (CPU): edge windows clipped to the image, results unchanged."""
    clipped = tile_grid((2048, 2048), 512, 64, 8, uniform=False)
    uniform = tile_grid((2048, 2048), 512, 64, 8)
    assert [t.target for t in clipped] == [t.target for t in uniform]

    def area(tiles):
        return sum(
            (t.window[0].stop - t.window[0].start) * (t.window[1].stop - t.window[1].start)
            for t in tiles
        )

    assert area(clipped) < 0.91 * area(uniform)  # 2432² against 2560² pixels
    gray = skimage.data.moon()[:300, :437].astype(np.float32) / 255
    one, batched = np.zeros((*gray.shape, 3), np.float32), np.zeros((*gray.shape, 3), np.float32)
    list(colorize_plane(random_generator, gray, one, tile_size=96, batch_size=1))
    list(colorize_plane(random_generator, gray, batched, tile_size=96, batch_size=4))
    assert np.abs(one - batched).max() <= 1 / 255
