"""Guided colourisation with the shipped `guided` model on held-out images."""

import numpy as np
import pytest
import skimage.data
from skimage.color import deltaE_ciede2000, rgb2lab

import napari_colorgan as ncg
from napari_colorgan.cli import main
from napari_colorgan.guide import chroma_uncertainty, hint_maps, reference_code


@pytest.fixture(scope="module")
def guided():
    return ncg.load_model("guided", device="cpu")


def _de(a, b) -> float:
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def _hints_from(truth, n, seed=0):
    rng = np.random.default_rng(seed)
    ys, xs = rng.integers(0, truth.shape[0], n), rng.integers(0, truth.shape[1], n)
    return [((y, x), tuple(truth[y, x])) for y, x in zip(ys, xs)]


def test_hint_maps_from_points_and_from_an_image():
    maps = hint_maps((2, 10, 12), [((1, 4, 5), (1.0, 0.0, 0.0))])
    assert maps.shape == (2, 10, 12, 3) and maps[1, 3:6, 4:7, 2].all() and maps[0].max() == 0
    assert maps[1, 4, 5, 0] > 0.5  # red: a* well above zero (a / 110)
    rgb = np.zeros((10, 12, 3))
    rgb[..., 2] = 1
    mask = np.zeros((10, 12), bool)
    mask[2, 3] = True
    maps = hint_maps((10, 12), (rgb, mask))
    assert maps[..., 2].sum() == 1 and maps[2, 3, 1] < -0.5  # blue: b* negative


@pytest.mark.parametrize(
    "hints, message",
    [
        ([((10, 99), (1, 0, 0))], "outside the image"),
        ([((1, 1), (2, 0, 0))], "RGB in \\[0, 1\\]"),
        ([(1, 1, 1)], "a hint is"),
        ((np.zeros((3, 3, 3)), np.zeros((3, 3), bool)), "shapes"),
    ],
)
def test_bad_hints_are_named(hints, message):
    with pytest.raises(ValueError, match=message):
        hint_maps((20, 20), hints)


def test_guidance_needs_a_guided_model(camera):
    with pytest.raises(ValueError, match="guided model"):
        ncg.colorize(camera[:64, :64], "general", hints=[((3, 3), (1, 0, 0))])


def test_bad_hint_settings_are_named(guided, camera):
    hint = [((3, 3), (1, 0, 0))]
    with pytest.raises(ValueError, match="hint_reach must be >= 0"):
        ncg.colorize(camera[:64, :64], guided, hints=hint, hint_reach=-1)
    with pytest.raises(ValueError, match="only with blend='none'"):
        ncg.colorize(camera[:64, :64], guided, hints=hint, blend="gaussian")


def test_a_guided_translate_model_takes_hints_without_the_spread(camera):
    from napari_colorgan.models.generator import Generator, GeneratorConfig

    net = Generator(GeneratorConfig(mode="translate", guided=True)).eval()
    rgb = ncg.colorize(camera[:64, :64], net, device="cpu", hints=[((3, 3), (1, 0, 0))])
    assert rgb.shape == (64, 64, 3) and np.isfinite(rgb).all()


def test_hints_and_their_spread_stay_exact_across_tiles(guided, astronaut):
    truth = astronaut[:320, :352]  # larger than a 64 px tile plus its 2 x 120 px halo
    gray = ncg.to_gray(truth)
    hints = _hints_from(truth, 100) + [((0, 0), (1, 0, 0)), ((319, 351), (0, 0, 1))]
    whole = ncg.colorize(gray, guided, normalize="none", hints=hints, tile_size=1024)
    tiled = ncg.colorize(gray, guided, normalize="none", hints=hints, tile_size=64)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # without the spread's own margin (48 + 8 px) in the halo, the tiles differ
    short = ncg.colorize(
        gray, guided, normalize="none", hints=hints, tile_size=64, overlap=guided.halo() - 56
    )
    assert np.abs(short - whole).max() > 1e-3


def test_hints_pull_the_colour(guided, ihc_heldout):
    truth = ihc_heldout[:, :256]
    gray = ncg.to_gray(truth)
    hints = _hints_from(truth, 100)
    spread = ncg.colorize(gray, guided, normalize="none", hints=hints)
    plain = ncg.colorize(gray, guided, normalize="none")
    network_only = ncg.colorize(gray, guided, normalize="none", hints=hints, hint_reach=0)
    # measured 6.02 plain, 5.72 from the network alone, 4.38 with the spread
    assert _de(network_only, truth) < _de(plain, truth)
    assert _de(spread, truth) < _de(network_only, truth) - 0.5
    # a bright green hint where the stain is brown pulls that pixel toward green
    (y, x), _ = hints[0]
    green = (0.1, 0.8, 0.1)
    pulled = ncg.colorize(gray, guided, normalize="none", hints=[((y, x), green)])
    assert np.linalg.norm(pulled[y, x] - green) < np.linalg.norm(plain[y, x] - green) - 0.02


def test_reference_palette_changes_the_result(guided):
    hubble = skimage.data.hubble_deep_field()
    truth = hubble[300:556, 600:856].astype(np.float32) / 255
    reference = hubble[:, :600]
    code = reference_code(reference)
    assert code.shape == (5,) and code[-1] == 1
    gray = ncg.to_gray(truth)
    plain = ncg.colorize(gray, guided, normalize="none")
    followed = ncg.colorize(gray, guided, normalize="none", reference=reference)
    assert np.abs(followed - plain).max() > 0.01
    # lightness is the input's either way
    np.testing.assert_allclose(rgb2lab(followed)[..., 0], rgb2lab(plain)[..., 0], atol=0.05)


def test_a_reference_streams_with_lazy_input_and_files(guided, tmp_path, capsys):
    """A reference is one code for every chunk: dask, zarr and file outputs take it."""
    import dask.array as da
    import zarr

    hubble = skimage.data.hubble_deep_field()
    gray = ncg.to_gray(hubble[:320, 600:].astype(np.float32) / 255)
    reference = hubble[:, :600]
    whole = ncg.colorize(gray, guided, normalize="none", reference=reference)
    lazy = ncg.colorize(
        da.from_array(gray, chunks=96), guided, normalize="none", reference=reference
    )
    np.testing.assert_allclose(lazy.compute(), whole, atol=1 / 255)
    with pytest.raises(ValueError, match="need an in-memory array"):
        ncg.colorize(da.from_array(gray), guided, hints=[((3, 3), (1, 0, 0))])
    with pytest.raises(ValueError, match="needs a guided model"):
        ncg.colorize(da.from_array(gray), "general", reference=reference)

    import imageio.v3 as iio
    import tifffile

    src, ref, out = tmp_path / "in.tif", tmp_path / "ref.png", tmp_path / "out.zarr"
    tifffile.imwrite(src, (gray * 65535).round().astype(np.uint16), tile=(128, 128))
    iio.imwrite(ref, reference)
    args = ["colorize", str(src), str(out), "--model", "guided", "--quiet"]
    assert main([*args, "--reference", str(ref), "--normalize", "0,65535"]) == 0
    written = zarr.open_group(str(out), mode="r")
    streamed = np.asarray(written[next(iter(written.array_keys()))])
    assert streamed.dtype == np.uint16  # a 16-bit input keeps 16 bits
    np.testing.assert_allclose(streamed / 65535, whole, atol=1 / 255)
    # resuming into it without the same palette is refused, naming what changed
    assert main([*args, "--normalize", "0,65535"]) == 1
    assert "reference_code" in capsys.readouterr().err


def test_samples_are_diverse_plausible_and_reproducible(guided, ihc_heldout):
    gray = ncg.to_gray(ihc_heldout[:128, :128])
    samples = ncg.colorize(gray, guided, normalize="none", samples=4, seed=1)
    assert samples.shape == (4, 128, 128, 3)
    assert _de(samples[0], samples[1]) > 0.5
    L = rgb2lab(np.repeat(gray[..., None], 3, -1))[..., 0]
    for s in samples:  # every sample keeps the input's lightness
        np.testing.assert_allclose(rgb2lab(s)[..., 0], L, atol=0.05)
    again = ncg.colorize(gray, guided, normalize="none", samples=4, seed=1)
    np.testing.assert_array_equal(again, samples)
    spread = chroma_uncertainty(samples)
    assert spread.shape == (128, 128) and spread.min() >= 0 and spread.max() > 1


def test_samples_draw_the_palettes_of_images_like_the_input(ihc_heldout, astronaut):
    """A prior from a slide and a photograph: given the held-out half of the slide, the
    draws are the slide's palettes (brown-blue, pale), not the photograph's."""
    from napari_colorgan.engine.context import context_view
    from napari_colorgan.guide import lightness_signature, sample_codes
    from napari_colorgan.train.trainer import TrainConfig, Trainer

    ihc_top = skimage.data.immunohistochemistry()[:256].astype(np.float32) / 255
    config = TrainConfig(size="lite", guided=True, batch=2, patch=64)
    prior = Trainer(config, [ihc_top, astronaut]).code_prior(n=256)
    codes, views = np.array(prior["codes"]), np.array(prior["views"])
    from_slide = (views == views[np.argmax(views[:, 2])]).all(1)  # the paler image
    assert 0 < from_slide.sum() < len(codes)

    slide_view = lightness_signature(context_view(ncg.to_gray(ihc_heldout), (0, 1)))
    photo_view = lightness_signature(context_view(ncg.to_gray(astronaut), (0, 1)))
    given_slide = sample_codes(prior, 32, seed=0, signature=slide_view)
    given_photo = sample_codes(prior, 32, seed=0, signature=photo_view)
    slide, photo = codes[from_slide].mean(0), codes[~from_slide].mean(0)
    for draws, own, other in ((given_slide, slide, photo), (given_photo, photo, slide)):
        centre = draws[:, :4].mean(0)
        assert np.linalg.norm(centre - own) < 0.5 * np.linalg.norm(centre - other)
    # a prior saved before crops were kept: one Gaussian, whatever the image
    old = {k: prior[k] for k in ("mean", "cov")}
    np.testing.assert_array_equal(
        sample_codes(old, 8, seed=3, signature=slide_view), sample_codes(old, 8, seed=3)
    )


def test_temporal_mode_follows_the_previous_frame(guided, astronaut):
    """A camera pan over a real image; flicker itself is measured in docs/guided.md."""
    frames = np.stack([astronaut[40 + 3 * t : 168 + 3 * t, 200:328] for t in range(4)])
    gray = ncg.to_gray(frames)
    per_frame = ncg.colorize(gray, guided, normalize="none")
    temporal = ncg.colorize(gray, guided, normalize="none", temporal=True)
    np.testing.assert_array_equal(temporal[0], per_frame[0])  # the first frame is free
    assert np.abs(temporal[1:] - per_frame[1:]).max() > 1e-3  # later ones are guided
    L = rgb2lab(np.repeat(gray[..., None], 3, -1))[..., 0]
    np.testing.assert_allclose(rgb2lab(temporal)[..., 0], L, atol=0.05)
    with pytest.raises(ValueError, match="temporal needs a stack"):
        ncg.colorize(gray[0], guided, temporal=True)


def test_temporal_mode_removes_chroma_flicker_from_sensor_noise(guided, astronaut):
    """A still scene under fresh noise each frame: its colour should not change."""
    gray = ncg.to_gray(astronaut[40:168, 200:328])
    rng = np.random.default_rng(0)
    noisy = np.clip(gray + rng.normal(0, 0.01, (4, *gray.shape)), 0, 1).astype(np.float32)

    def chroma_flicker(rgb):
        return np.linalg.norm(np.diff(rgb2lab(rgb)[..., 1:], axis=0), axis=-1).mean()

    per_frame = chroma_flicker(ncg.colorize(noisy, guided, normalize="none"))
    followed = ncg.colorize(noisy, guided, normalize="none", temporal=True)
    assert chroma_flicker(followed) < 0.2 * per_frame  # measured 0.002 vs 0.22


def test_temporal_mode_stays_exact_across_tiles(guided, astronaut):
    frames = np.stack([astronaut[100 + 4 * t : 420 + 4 * t, 100:420] for t in range(2)])
    gray = ncg.to_gray(frames)
    options = {"normalize": "none", "temporal": True, "precision": "float32"}  # to 1e-5
    whole = ncg.colorize(gray, guided, tile_size=1024, **options)
    tiled = ncg.colorize(gray, guided, tile_size=64, **options)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    options["precision"] = "auto"  # bf16 where the CPU has it: tiles agree to 1/255
    whole = ncg.colorize(gray, guided, tile_size=1024, **options)
    tiled = ncg.colorize(gray, guided, tile_size=64, **options)
    np.testing.assert_allclose(tiled, whole, atol=1 / 255)


def test_cli_hints_and_samples(tmp_path, capsys):
    import imageio.v3 as iio

    src = tmp_path / "ihc.png"
    truth = skimage.data.immunohistochemistry()[256:384, :128]
    iio.imwrite(src, (ncg.to_gray(truth) * 255).round().astype(np.uint8))
    out = tmp_path / "out.png"
    args = ["colorize", str(src), str(out), "--model", "guided", "--quiet"]
    assert main([*args, "--hint", "10,20,#20c020", "--device", "cpu"]) == 0
    spread = iio.imread(out)
    assert spread.shape == (128, 128, 3)
    r, g, b = spread[10, 20].astype(int)
    assert g > r + 20 and g > b + 20  # the hinted pixel is green
    assert main([*args, "--hint", "10,20,#20c020", "--hint-reach", "0"]) == 0
    alone = iio.imread(out).astype(int)
    assert np.abs(alone[4:17, 14:27] - spread[4:17, 14:27]).max() > 10  # the spread's part
    assert main([*args, "--samples", "3", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("wrote") >= 5 and (tmp_path / "out_sample2.png").exists()
    assert (tmp_path / "out_uncertainty.tif").exists()
    assert main([*args, "--hint", "10,20,red"]) == 1
    assert "expected Y,X,#RRGGBB" in capsys.readouterr().err
