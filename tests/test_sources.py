"""Training sources read by regions: slides, stores, folders, globs, arrays and real pairs."""

import dataclasses

import numpy as np
import pytest
import skimage.color
import skimage.data
import tifffile
import torch
import zarr

from napari_colorgan.color import gray_to_lightness
from napari_colorgan.io.scaling import intensity_range, to_unit_float, to_unit_range
from napari_colorgan.train.data import PatchSampler
from napari_colorgan.train.sampling import Placement, foreground_mask
from napari_colorgan.train.sources import Pair, Source, expand, open_array, open_entry
from napari_colorgan.train.trainer import TrainConfig, Trainer
from napari_colorgan.train.transfer import finetune_trainer


@pytest.fixture(scope="module")
def ihc() -> np.ndarray:
    return skimage.data.immunohistochemistry()


def write_slide(path, image, levels=3, tile=(256, 256)):
    """A tiled, pyramidal BigTIFF as slide scanners write them (reduced levels as SubIFDs)."""
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(image, tile=tile, subifds=levels - 1, photometric="rgb")
        for _ in range(levels - 1):
            image = image[::2, ::2]
            tif.write(image, tile=tile, subfiletype=1, photometric="rgb")


@pytest.fixture(scope="module")
def slide(tmp_path_factory, ihc):
    """IHC tiled 4 x 4 on glass: 2048 + 2 x 256 px a side, pyramid of 3 levels."""
    tissue = np.tile(ihc, (4, 4, 1))
    glass = np.full((tissue.shape[0] + 512, tissue.shape[1] + 512, 3), 242, np.uint8)
    glass[256:-256, 256:-256] = tissue
    path = tmp_path_factory.mktemp("slide") / "slide.tif"
    write_slide(path, glass)
    return path, glass


def test_a_pyramidal_tiff_is_read_by_regions(slide):
    path, pixels = slide
    array, levels = open_array(path)
    assert array.shape == pixels.shape and len(levels) == 2
    assert not isinstance(array, np.ndarray)  # a lazy, chunked view
    (source,), _ = open_entry({"source": str(path), "rows": [0.5, 1.0]})
    region = source.read(10, 300, 64, 96)
    h = pixels.shape[0] // 2
    np.testing.assert_array_equal(region, to_unit_float(pixels[h + 10 : h + 74, 300:396]))
    view, stride = source.overview()  # from the coarsest level at least 512 long
    assert stride == 4 and view.shape[:2] == (h // 4, pixels.shape[1] // 4)
    np.testing.assert_array_equal(view, to_unit_float(pixels[h::4, ::4]))


def test_zarr_and_ome_zarr_colour_stores(tmp_path, ihc):
    zarr.save_array(tmp_path / "plain.zarr", ihc)
    array, _ = open_array(tmp_path / "plain.zarr")
    np.testing.assert_array_equal(np.asarray(array[5:9, 7:11]), ihc[5:9, 7:11])
    # an OME-Zarr stores colour as a c axis first
    group = zarr.open_group(tmp_path / "slide.ome.zarr", mode="w")
    group.create_array("0", data=np.moveaxis(ihc, -1, 0), chunks=(3, 128, 128))
    group.create_array("1", data=np.moveaxis(ihc[::2, ::2], -1, 0), chunks=(3, 128, 128))
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}]
    axes.append({"name": "x", "type": "space"})
    datasets = [
        {"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [1, s, s]}]}
        for k, s in ((0, 1.0), (1, 2.0))
    ]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets}]
    (source,), _ = open_entry({"source": str(tmp_path / "slide.ome.zarr")})
    assert source.shape == ihc.shape[:2] and len(source.levels) == 1
    np.testing.assert_array_equal(source.read(3, 4, 8, 8), to_unit_float(ihc[3:11, 4:12]))


def test_a_folder_and_a_glob_of_tiles_open_without_decoding(tmp_path, ihc):
    import imageio.v3 as iio

    from napari_colorgan.train.sources import _WHOLE

    (tmp_path / "tiles").mkdir()
    for k in range(6):
        iio.imwrite(tmp_path / "tiles" / f"t{k}.png", ihc[64 * k : 64 * k + 128, :128])
    (tmp_path / "tiles" / "notes.txt").write_text("not an image")
    sources, weights = open_entry({"source": str(tmp_path / "tiles"), "weight": 3.0})
    assert [s.name for s in sources] == [f"t{k}.png" for k in range(6)]
    held = [entry[0] for entry in _WHOLE.held.values()]
    assert not any(s.array is a for s in sources for a in held)  # headers only, so far
    assert sum(weights) == pytest.approx(3.0 * 128)  # the folder counts as one image
    np.testing.assert_array_equal(sources[2].read(0, 0, 4, 4), to_unit_float(ihc[128:132, :4]))
    assert len(expand("tiles/t[0-2].png", tmp_path)) == 3
    with pytest.raises(FileNotFoundError, match="no training images in"):
        expand(str(tmp_path / "tiles" / "*.jpg"))


def test_fits_colour_cube(tmp_path, ihc):
    fits = pytest.importorskip("astropy.io.fits")
    fits.writeto(tmp_path / "colour.fits", np.moveaxis(ihc, -1, 0).astype(np.float32) / 255)
    (source,), _ = open_entry({"source": str(tmp_path / "colour.fits")})
    np.testing.assert_allclose(source.read(1, 2, 3, 4), ihc[1:4, 2:6] / 255, atol=1e-6)


def test_dask_array_and_multiscale_list_sources(ihc):
    import dask.array as da

    levels = [da.from_array(ihc, chunks=128), da.from_array(ihc[::2, ::2], chunks=128)]
    (source,), _ = open_entry({"source": levels, "cols": [0, 0.5]})
    assert source.shape == (512, 256) and len(source.levels) == 1
    np.testing.assert_array_equal(source.read(0, 0, 2, 2), to_unit_float(ihc[:2, :2]))
    with pytest.raises(ValueError, match="not a colour image"):
        open_entry({"source": ihc[..., 0]})


def _camera_gray(rgb: np.ndarray, noise: float = 20.0, seed: int = 0) -> np.ndarray:
    """What a linear 12-bit monochrome camera with read noise would record of a colour slide."""
    linear = _linear_luminance(torch.from_numpy(rgb / 255.0)).numpy()
    noisy = linear * 3000 + np.random.default_rng(seed).normal(0, noise, linear.shape) + 100
    return np.clip(np.round(noisy), 0, 4095).astype(np.uint16)


def _linear_luminance(rgb: torch.Tensor) -> torch.Tensor:
    from napari_colorgan.color import _srgb_to_linear

    return _srgb_to_linear(rgb) @ torch.tensor([0.2126, 0.7152, 0.0722], dtype=rgb.dtype)


def test_a_pair_learns_from_the_real_gray_normalised_as_colorize_does(tmp_path, ihc):
    from napari_colorgan.color import lab_to_rgb

    gray = _camera_gray(ihc, noise=0.0)
    tifffile.imwrite(tmp_path / "gray.tif", gray)
    tifffile.imwrite(tmp_path / "colour.tif", ihc, photometric="rgb")
    spec = {"source": str(tmp_path / "colour.tif"), "input": str(tmp_path / "gray.tif")}
    (pair,), _ = open_entry(spec)
    assert isinstance(pair, Pair) and pair.input.intensity == intensity_range(gray)
    b = PatchSampler([pair], patch=32, seed=4).batch(0, 4)
    # each input is the camera's gray of its own truth (same place, turned alike),
    # scaled by the whole gray image's range as colorize scales it
    rgb = lab_to_rgb(torch.cat([b.L, b.ab], 1)).permute(0, 2, 3, 1).double()
    camera = _linear_luminance(rgb) * 3000 + 100
    low, high, _ = intensity_range(gray)
    expected = gray_to_lightness(((camera - low) / (high - low)).clamp(0, 1).float())
    torch.testing.assert_close(b.cond[:, 0], expected, atol=0.3, rtol=0)
    assert (b.cond - b.L).abs().mean() > 1  # the camera's gray is not the truth's L*
    torch.testing.assert_close(b.inputs, b.cond)  # no input augmentation asked for


@pytest.mark.parametrize("base, reads_light", [("histology", True), ("general", False)])
def test_a_pair_is_read_as_the_fine_tuned_model_will_read_it(ihc, base, reads_light):
    """A fine-tune keeps its base's reading of cameras, and learns from the real pair's
    gray read that way, so it sees in training what colorize gives it after."""
    gray = _camera_gray(ihc, noise=0.0)
    trainer, _ = finetune_trainer(base, [ihc], 1, inputs=[gray], batch=2, patch=64, device="cpu")
    assert trainer.G.arch.linear_cameras is reads_light
    expected = intensity_range(gray, "linear" if reads_light else "auto")
    assert trainer.sampler.sources[0].input.intensity == expected


def test_bad_pairs_are_named(tmp_path, ihc):
    tifffile.imwrite(tmp_path / "colour.tif", ihc, photometric="rgb")
    tifffile.imwrite(tmp_path / "small.tif", ihc[:500, :, 0])
    tifffile.imwrite(tmp_path / "rgb_gray.tif", ihc, photometric="rgb")
    colour = str(tmp_path / "colour.tif")
    with pytest.raises(ValueError, match=r"small.tif has 500 x 512 .* colour.tif has 512 x 512"):
        open_entry({"source": colour, "input": str(tmp_path / "small.tif")})
    with pytest.raises(ValueError, match="rgb_gray.tif .* not one gray channel"):
        open_entry({"source": colour, "input": str(tmp_path / "rgb_gray.tif")})
    with pytest.raises(ValueError, match="1 gray input"):
        finetune_trainer("general", [colour, colour], 2, inputs=[colour])


def test_foreground_mask_keeps_patches_on_tissue(slide):
    path, pixels = slide
    (source,), _ = open_entry({"source": str(path)})
    view, stride = source.overview()
    mask = foreground_mask(view)
    inner = np.zeros(mask.shape, bool)
    inner[256 // stride : -256 // stride, 256 // stride : -256 // stride] = True
    assert mask[inner].mean() > 0.5 and mask[~inner].mean() < 0.01  # glass is background
    sampler = PatchSampler([source], patch=128, seed=0, min_foreground=0.5)
    b = sampler.batch(0, 8)
    assert min(b.foreground) >= 0.5
    glass = torch.tensor([242 / 255] * 3)
    crops, _ = sampler.crops(8)
    assert all(not torch.allclose(rgb.mean((1, 2)), glass, atol=0.02) for rgb in crops)
    with pytest.raises(ValueError, match="no 64-pixel patch has 50% foreground"):
        Placement((512, 512), 64, np.zeros((512, 512), bool), 1, 0.5, "glass.tif")


def test_ranks_read_disjoint_parts_of_one_batch(astronaut):
    sampler = PatchSampler([astronaut], patch=32, seed=1)
    whole = sampler.batch(7, 4)
    halves = [sampler.batch(7, 4, slice(0, 2)), sampler.batch(7, 4, slice(2, 4))]
    torch.testing.assert_close(torch.cat([h.inputs for h in halves]), whole.inputs)
    assert not torch.equal(halves[0].ab, halves[1].ab)


def _tiny(**kw):
    settings = {"steps": 4, "warmup": 1, "r1_every": 2, "batch": 2, "patch": 32}
    return TrainConfig(**{**settings, "log_every": 1, "precision": "float32", **kw})


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.G.state_dict().items()}


def test_resume_with_workers_is_bit_exact_and_workers_change_nothing(astronaut, tmp_path):
    """Workers read the batches of a run with none; a run resumed with workers from a
    checkpoint equals the uninterrupted run."""
    config = _tiny(workers=2, augment={"noise": 0.05})
    whole = Trainer(config, [astronaut])
    whole.fit(progress=False)
    alone = Trainer(dataclasses.replace(config, workers=0), [astronaut])
    alone.fit(progress=False)
    first = Trainer(dataclasses.replace(config, steps=2), [astronaut])
    first.fit(progress=False)
    first.save_checkpoint(tmp_path / "run.checkpoint.safetensors")
    second = Trainer(config, [astronaut])
    second.load_checkpoint(tmp_path / "run.checkpoint.safetensors")
    second.fit(progress=False)
    a, b, c = _weights(whole), _weights(second), _weights(alone)
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)


def test_save_leaves_the_live_networks_as_they_are(astronaut, tmp_path):
    trainer = Trainer(_tiny(precision="bfloat16"), [astronaut])
    before = trainer.G_ema.head.weight
    assert before.is_contiguous(memory_format=torch.channels_last)
    trainer.save(tmp_path / "m.safetensors")
    after = trainer.G_ema.head.weight
    assert after is before and after.is_contiguous(memory_format=torch.channels_last)
    kernel = [p for p in trainer.D.parameters() if p.ndim == 4][0]
    assert kernel.is_contiguous(memory_format=torch.channels_last)


def test_finetune_reads_a_slide_and_a_pair(slide, tmp_path, ihc):
    path, _ = slide
    trainer, names = finetune_trainer(
        "general", [str(path)], 2, batch=2, patch=64, device="cpu", min_foreground=0.5
    )
    assert names == ["slide.tif"]
    logs = [e.losses for e in trainer.iter_fit()]
    assert logs[-1]["foreground"] >= 0.5
    gray = _camera_gray(ihc)
    trainer, names = finetune_trainer(
        "histology", [ihc], 1, inputs=[gray], batch=2, patch=64, device="cpu"
    )
    assert isinstance(trainer.sampler.sources[0], Pair)
    assert np.isfinite(trainer.train_step()["g"])


def test_a_recipe_trains_on_a_folder_and_a_pair(tmp_path, ihc):
    import imageio.v3 as iio

    import napari_colorgan as ncg
    from napari_colorgan.train.recipe import run_recipe

    (tmp_path / "tiles").mkdir()
    for k in range(3):
        iio.imwrite(tmp_path / "tiles" / f"t{k}.png", ihc[128 * k : 128 * k + 128, :256])
    tifffile.imwrite(tmp_path / "colour.tif", ihc, photometric="rgb")
    tifffile.imwrite(tmp_path / "gray.tif", _camera_gray(ihc))
    recipe = tmp_path / "pairs.toml"
    recipe.write_text(
        "[train]\nsteps = 2\nwarmup = 1\nbatch = 2\npatch = 64\nmin_foreground = 0.3\n"
        'log_every = 1\n[[data]]\nsource = "tiles"\n'
        '[[data]]\nsource = "colour.tif"\ninput = "gray.tif"\nrows = [0, 0.5]\n'
        '[[heldout]]\nsource = "colour.tif"\nrows = [0.5, 1]\n'
    )
    run_recipe(recipe, tmp_path / "pairs.safetensors", progress=False)
    prov = ncg.load_model(tmp_path / "pairs.safetensors", device="cpu").config["provenance"]
    assert prov["data"] == ["tiles", "colour.tif input=gray.tif rows=0-0.5"]
    assert "colour.tif rows=0.5-1" in prov["heldout_metrics"]
    log = (tmp_path / "logs" / "pairs.csv").read_text().splitlines()
    shares = [float(row.split(",")[-1]) for row in log[1:]]
    assert log[0].endswith("foreground") and min(shares) >= 0.3


class _Reads:
    """A read-only array that records the size of every region read from it."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.sizes = []

    def __getitem__(self, key):
        block = self.data[key]
        self.sizes.append(block.size)
        return block


def test_training_never_reads_a_large_image_whole(ihc, tmp_path):
    """Patches, the tissue mask and the mean chroma of a 4096² image (48 MB, too large to
    be held whole) are read as regions and a strided view: never the image."""
    big = _Reads(np.tile(ihc, (8, 8, 1)))
    source = Source(big, "big", rows=(0, 0.75))
    config = _tiny(min_foreground=0.3, patch=64)
    trainer = Trainer(config, [source])
    trainer.fit(progress=False)
    trainer.save(tmp_path / "big.safetensors")  # needs the mean chroma
    whole = big.data[: 3072].size
    assert max(big.sizes) <= 1024 * 768 * 3 < whole / 10  # the overview, stride 4
    assert sum(big.sizes) < whole / 6  # the overview twice (mask, chroma) and 2 x 2 patches


def test_translate_mode_learns_the_rgb_of_a_pair(ihc):
    """In translate mode the target is the colour image's RGB and the input its stain."""
    from napari_colorgan.color import lab_to_rgb

    stain = skimage.color.rgb2hed(ihc)[..., 0].astype(np.float32)
    (pair,), _ = open_entry({"source": ihc, "input": stain})
    trainer = Trainer(_tiny(mode="translate", adv=0.0, fm=0.0), [pair])
    b = trainer.sampler.batch(0, 2)
    target = trainer._target(b.L, b.ab)
    rgb, _ = trainer.sampler.crops(2)
    torch.testing.assert_close(target, rgb, atol=2e-3, rtol=0)  # the truth's own colour
    assert np.isfinite(trainer.train_step()["l1"])
