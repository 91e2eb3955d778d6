"""The image-level context code: one view of the whole image, one code, tiles still exact."""

import dask.array as da
import numpy as np
import pytest
import skimage.data
import torch
import zarr

import napari_colorgan as ncg
from napari_colorgan.engine.context import VIEW_SIDE, context_view, image_code, view_stride
from napari_colorgan.train.data import PatchSampler
from napari_colorgan.train.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def context_model():
    """``general`` with a context code whose FiLM layers are not zero (so it matters)."""
    from napari_colorgan.models.generator import with_context

    model = with_context(ncg.load_model("general", device="cpu"), 8).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        model.context_encoder.project.weight.mul_(10)  # codes far apart for other images
        for layer in model.film:
            layer.weight.normal_(0, 0.3)
    return model


@pytest.fixture(scope="module")
def ihc_gray():
    return ncg.to_gray(skimage.data.immunohistochemistry())


def test_a_new_code_starts_as_the_base_model(camera):
    from napari_colorgan.models.generator import with_context

    base = ncg.load_model("general", device="cpu")
    model = with_context(base, 8)
    L = torch.from_numpy(camera[:128, :128].astype(np.float32) / 255 * 100)[None, None]
    with torch.inference_mode():
        code = model.image_code(L)
        assert torch.allclose(model(L, None, code), base(L), atol=1e-3)  # a* b* units


def test_the_code_changes_the_colours(context_model, camera, ihc_gray):
    codes = [image_code(context_model, im, (0.0, 255.0)) for im in (camera, ihc_gray * 255)]
    assert codes[0].shape == (8,)
    assert not np.allclose(codes[0], codes[1])
    L = torch.from_numpy(camera[:128, :128].astype(np.float32) / 255 * 100)[None, None]
    with torch.inference_mode():
        a, b = (context_model(L, None, torch.from_numpy(c)) for c in codes)
    assert (a - b).abs().mean() > 0.05  # a* b* units


def test_the_view_is_small_and_the_same_from_chunks(ihc_gray, tmp_path):
    big = np.tile(ihc_gray, (3, 2))  # 1536 x 1024
    view = context_view(big, (0.0, 1.0))
    assert max(view.shape) <= VIEW_SIDE and view.shape == (1536 // 12, 1024 // 12)
    assert view_stride(big.shape) == 12
    stored = zarr.open_array(tmp_path / "big.zarr", mode="w", shape=big.shape, chunks=(100, 300))
    stored[:] = big
    assert np.allclose(context_view(stored, (0.0, 1.0)), view, atol=1e-3)
    assert np.allclose(context_view(da.from_array(big, chunks=256), (0.0, 1.0)), view, atol=1e-3)
    L = ncg.color.gray_to_lightness(torch.from_numpy(big[:12, :12].astype(np.float32)))
    assert view[0, 0] == pytest.approx(float(L.mean()), abs=1e-3)  # a block's mean of L


def test_tiles_and_chunks_equal_the_whole_image(context_model, ihc_gray):
    whole = ncg.colorize(ihc_gray, context_model, precision="float32", tile_size=1024)
    tiled = ncg.colorize(ihc_gray, context_model, precision="float32", tile_size=128)
    lazy = ncg.colorize(da.from_array(ihc_gray, chunks=160), context_model, precision="float32")
    assert np.abs(tiled - whole).max() < 1e-5
    assert np.abs(lazy.compute() - whole).max() < 1e-5
    plain = ncg.colorize(ihc_gray, ncg.load_model("general"), precision="float32")
    assert np.abs(whole - plain).mean() > 1e-3  # the code was used


def test_a_stack_shares_its_middle_planes_code(context_model, ihc_gray):
    stack = np.stack([ihc_gray[:256, :256], ihc_gray[256:, 256:], ihc_gray[:256, 256:]])
    out = ncg.colorize(stack, context_model, precision="float32", normalize=(0, 1))
    code = image_code(context_model, stack[1], (0.0, 1.0))
    assert np.allclose(code, image_code(context_model, stack, (0.0, 1.0)))
    L = ncg.color.gray_to_lightness(torch.from_numpy(stack[0].astype(np.float32)))[None, None]
    with torch.inference_mode():
        ab = context_model(L, None, torch.from_numpy(code))
    rgb = ncg.color.lab_to_rgb_in_gamut(L[0], ab[0]).permute(1, 2, 0).numpy()
    assert np.abs(out[0] - rgb).max() < 1e-4


def test_training_views_follow_the_engines_recipe():
    coffee = skimage.data.coffee().astype(np.float32) / 255  # 400 x 600
    sampler = PatchSampler([coffee], patch=64, seed=3, views=True)
    *_, views = sampler.sample(6)
    assert len(views) == 6
    for view in views:
        assert max(view.shape) <= VIEW_SIDE
        assert min(view.shape) >= 100 // 5  # a quarter of a side at least
        assert 0 <= float(view.min()) and float(view.max()) <= 100
    whole = [v for v in views if sorted(v.shape) == [400 // 5, 600 // 5]]  # stride 5: 600 px
    assert whole  # about half the views are of the whole image, as the engine's view
    again = PatchSampler([coffee], patch=64, seed=3, views=True).sample(6)[-1]
    assert all(torch.equal(a, b) for a, b in zip(views, again))  # seeded


def test_a_context_run_trains_saves_and_loads(tmp_path):
    config = TrainConfig(
        steps=3, warmup=1, batch=2, patch=32, base="general", context=4, seed=1, threads=1
    )
    coffee = skimage.data.coffee().astype(np.float32) / 255
    trainer = Trainer(config, [coffee])
    for _ in range(3):
        trainer.train_step()
    assert any(float(p.abs().sum()) > 0 for p in trainer.G.film.parameters())
    path = trainer.save(tmp_path / "ctx.safetensors")
    model = ncg.load_model(path)
    assert model.arch.context == 4
    out = ncg.colorize(ncg.to_gray(skimage.data.coffee()), model)
    assert out.shape == (400, 600, 3) and np.isfinite(out).all()


def test_the_exported_graph_computes_each_images_code(context_model, ihc_gray, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = ncg.export_model(context_model, tmp_path / "ctx.onnx", format="onnx")
    session = onnxruntime.InferenceSession(str(path))
    for crop in (ihc_gray[:200, :328], ihc_gray[100:400, 50:190]):  # two sizes, two codes
        gray = np.ascontiguousarray(crop, dtype=np.float32)
        (rgb,) = session.run(None, {"gray": gray[None, None]})
        want = ncg.colorize(gray, context_model, normalize="none", precision="float32")
        assert np.abs(rgb[0].transpose(1, 2, 0) - want).max() < 1e-4


def test_a_formed_patch_has_a_view_formed_the_same_way():
    """Under gray formations a patch's context view is of its image made gray the same
    way, as the engine's view of a user's camera gray would be: a patch made lighter than
    its L* has a lighter view, a darker one a darker view."""
    from napari_colorgan.train.data import Augment

    rgb = skimage.data.immunohistochemistry().astype(np.float32) / 255
    formed = PatchSampler([rgb], 64, seed=1, views=True, augment=Augment(formations=1.0))
    exact = PatchSampler([rgb], 64, seed=1, views=True).formation_view(0)[1]
    b = formed.batch(0, 24)
    lighter = (b.inputs - b.cond).mean((1, 2, 3))
    view_lighter = torch.stack([v.mean() for v in b.views]) - exact.mean()
    agree = (torch.sign(lighter) == torch.sign(view_lighter))[lighter.abs() > 2]
    assert agree.numel() >= 12 and agree.float().mean() > 0.9
