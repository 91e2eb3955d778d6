"""A few real training steps: the trainer learns, stays finite, saves loadable weights."""

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_colorgan as ncg
from napari_colorgan.engine.precision import Precision, cpu_has_native_bf16
from napari_colorgan.models.registry import WeightsError, read_metadata
from napari_colorgan.train.data import Augment, PatchSampler, load_source
from napari_colorgan.train.evaluate import evaluate_model
from napari_colorgan.train.losses import VGGFeatures
from napari_colorgan.train.recipe import heldout_images, run_recipe
from napari_colorgan.train.trainer import TrainConfig, Trainer, TrainingDiverged

HERE = Path(__file__).resolve().parent


def test_load_source_fractions():
    left = load_source("skimage:hubble_deep_field", cols=(0, 0.6))
    assert left.shape == (872, 600, 3) and left.dtype == np.float32 and left.max() <= 1
    with pytest.raises(ValueError, match="not a colour image"):
        load_source("skimage:camera")


def test_sampler_is_deterministic_and_lab(astronaut):
    a = PatchSampler([astronaut], patch=32, seed=3).sample(4)
    b = PatchSampler([astronaut], patch=32, seed=3).sample(4)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    L_in, L, ab = a
    assert L.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)
    assert 0 <= L.min() and L.max() <= 100 and ab.abs().max() > 5


def _tiny(**kw):
    return TrainConfig(
        size="lite",
        steps=kw.pop("steps", 6),
        warmup=kw.pop("warmup", 3),
        batch=2,
        patch=32,
        log_every=1,
        **kw,
    )


def test_training_lowers_l1_and_switches_on_the_gan(astronaut):
    trainer = Trainer(_tiny(steps=30, warmup=25, lr_g=1e-3), [astronaut])
    fixed = trainer.sampler.batch(10**6, 16)  # patches of a batch never trained on

    def l1() -> float:
        with torch.no_grad():
            return float((trainer.G(fixed.inputs) - fixed.ab).abs().mean())

    first = l1()
    for _ in range(25):
        trainer.train_step()
    assert l1() < 0.9 * first
    logs = trainer.train_step()
    assert {"d", "adv", "fm"} <= set(logs) and all(np.isfinite(list(logs.values())))


def test_divergence_stops_with_a_clear_message(astronaut):
    trainer = Trainer(_tiny(), [astronaut])
    with torch.no_grad():
        trainer.G.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan at step 0"):
        trainer.train_step()


def _state(trainer) -> dict:
    """Every tensor a run's future depends on."""
    out = {}
    for name, obj in trainer._stateful().items():
        state = obj.state_dict()
        if isinstance(obj, torch.optim.Optimizer):
            state = {f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()}
        out.update({f"{name}.{k}": v for k, v in state.items()})
    return out


def test_resume_is_bit_exact(astronaut, tmp_path):
    """2N steps in one go equal N steps, a checkpoint, a fresh process state and N more;
    a run that ended at N steps is continued to 2N the same way."""
    config = _tiny(steps=6, warmup=2, r1_every=2, augment={"noise": 0.05, "gamma": 1.5})
    whole = Trainer(config, [astronaut])
    whole.fit(progress=False)

    first = Trainer(dataclasses.replace(config, steps=3), [astronaut])
    first.fit(progress=False)
    first.save_checkpoint(tmp_path / "run.checkpoint.safetensors")
    del first
    torch.manual_seed(123)  # the global stream must not matter
    second = Trainer(config, [astronaut])
    assert second.load_checkpoint(tmp_path / "run.checkpoint.safetensors") == 3
    second.fit(progress=False)

    a, b = _state(whole), _state(second)
    assert a.keys() == b.keys() and len(a) > 100
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


native_bf16 = pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU emulates bf16")


@pytest.mark.parametrize("precision", ["float32", pytest.param("bfloat16", marks=native_bf16)])
def test_resume_is_bit_exact_within_a_precision(astronaut, tmp_path, precision):
    """2 steps, checkpoint, resume, 2 more == 4 steps at once, at each precision.

    The checkpoint records the precision and a run at another one is refused.
    """
    from safetensors import safe_open

    config = _tiny(steps=4, warmup=1, r1_every=2, precision=precision)
    whole = Trainer(config, [astronaut])
    assert whole.precision.dtype == precision
    whole.fit(progress=False)
    first = Trainer(config, [astronaut])
    for _ in range(2):
        first.train_step()
    path = first.save_checkpoint(tmp_path / "run.checkpoint.safetensors")
    with safe_open(path, "pt") as f:
        assert f.metadata()["precision"] == precision
    second = Trainer(config, [astronaut])
    assert second.load_checkpoint(path) == 2
    second.fit(progress=False)
    a, b = _state(whole), _state(second)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    elsewhere = Trainer(config, [astronaut])  # as "auto" would resolve on another CPU
    elsewhere.precision = Precision("float32" if precision == "bfloat16" else "bfloat16", "cpu")
    with pytest.raises(ValueError, match=f"written by a run in {precision}, this one"):
        elsewhere.load_checkpoint(path)


@native_bf16
def test_bf16_training_keeps_the_lab_conversions_in_float32(astronaut):
    """Under the trainer's autocast the RGB <-> Lab conversions equal float32's exactly."""
    from napari_colorgan.color import lab_to_rgb, rgb_to_lab

    trainer = Trainer(_tiny(mode="translate", precision="bfloat16"), [astronaut])
    _, L, ab = trainer.sampler.sample(2)
    rgb = lab_to_rgb(torch.cat((L, ab), 1)).clamp(0, 1)
    with trainer.precision.autocast():
        target, back = trainer._target(L, ab), trainer._as_ab(L, rgb)
    assert target.dtype == back.dtype == torch.float32
    assert torch.equal(target, rgb)
    assert torch.equal(back, rgb_to_lab(rgb)[:, 1:])


def test_checkpoint_of_other_settings_is_refused(astronaut, tmp_path):
    trainer = Trainer(_tiny(), [astronaut])
    trainer.train_step()
    path = trainer.save_checkpoint(tmp_path / "run.checkpoint.safetensors")
    with pytest.raises(ValueError, match="other settings .*lr_g"):
        Trainer(_tiny(lr_g=1e-3), [astronaut]).load_checkpoint(path)
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        trainer.load_checkpoint(tmp_path / "bad.safetensors")


def test_divergence_names_the_checkpoint_it_kept(astronaut, tmp_path):
    trainer = Trainer(_tiny(steps=4, checkpoint_every=1), [astronaut])
    checkpoint = tmp_path / "run.checkpoint.safetensors"
    run = trainer.iter_fit(checkpoint=checkpoint)
    next(run)
    kept = checkpoint.read_bytes()
    with torch.no_grad():
        trainer.G.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="run.checkpoint.safetensors, is kept"):
        next(run)
    assert checkpoint.read_bytes() == kept


@pytest.mark.parametrize(
    "options, logged",
    [
        ({"gan": "lsgan"}, "adv"),
        ({"gan": "wgan-gp"}, "adv"),
        ({"recon": "l2", "chroma": 5.0}, "chroma"),
        ({"adv": 0.0, "fm": 0.0}, "l1"),
        ({"augment": {"blur": 2.0, "noise": 0.05, "bits": 10, "gamma": 2.0}}, "d"),
    ],
)
def test_training_options_run_and_log(astronaut, options, logged):
    trainer = Trainer(_tiny(warmup=1, **options), [astronaut])
    logs = [trainer.train_step() for _ in range(3)]
    assert logged in logs[-1] and all(np.isfinite(v) for v in logs[-1].values())
    assert (trainer.D is None) == (options.get("adv") == 0.0)


def test_a_run_marked_to_read_cameras_as_light_saves_the_mark(astronaut, tmp_path):
    from napari_colorgan.models.registry import load_model

    trainer = Trainer(_tiny(steps=1, warmup=1, linear_cameras=True), [astronaut])
    path = trainer.save(tmp_path / "marked.safetensors")
    assert load_model(path, "cpu").arch.linear_cameras
    plain = Trainer(_tiny(steps=1, warmup=1), [astronaut]).save(tmp_path / "plain.safetensors")
    assert not load_model(plain, "cpu").arch.linear_cameras


def test_unknown_gan_and_recon_are_refused():
    with pytest.raises(ValueError, match="gan must be one of"):
        TrainConfig(gan="wgan")
    with pytest.raises(ValueError, match="recon must be"):
        TrainConfig(recon="l3")


def test_a_recipe_entry_without_a_source_is_named(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[[data]]\nsource = "skimage:astronaut"\n\n[[heldout]]\nrows = [0, 0.5]\n')
    with pytest.raises(ValueError, match=r"\[\[heldout\]\] entry 1 needs a source"):
        TrainConfig.from_toml(recipe)


def test_augmentations_change_only_the_input(astronaut):
    plain = PatchSampler([astronaut], patch=48, seed=1).sample(2)
    bits = PatchSampler([astronaut], 48, 1, Augment(bits=7)).sample(2)
    blur = PatchSampler([astronaut], 48, 1, Augment(blur=3.0)).sample(2)
    torch.testing.assert_close(bits[1], plain[1])  # the truth is untouched
    torch.testing.assert_close(bits[2], plain[2])
    assert len(torch.unique(bits[0][0])) <= 2**7 < len(torch.unique(plain[0][0]))
    edges = lambda L: (L[..., 1:] - L[..., :-1]).abs().mean()  # noqa: E731
    assert edges(blur[0]) < 0.8 * edges(plain[0])


def test_perceptual_term_reads_a_users_vgg_file(astronaut, tmp_path):
    from safetensors.torch import save_file

    vgg = VGGFeatures()
    torch.nn.init.normal_(vgg.features[0].weight)
    weights = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    weights["classifier.0.weight"] = torch.zeros(2, 2)  # later layers are ignored
    save_file(weights, tmp_path / "vgg16.safetensors")
    trainer = Trainer(_tiny(perceptual=str(tmp_path / "vgg16.safetensors")), [astronaut])
    logs = trainer.train_step()
    assert logs["perceptual"] > 0
    torch.save(vgg.state_dict(), tmp_path / "vgg16.pth")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        VGGFeatures.from_file(tmp_path / "vgg16.pth")
    save_file({"features.0.weight": weights["features.0.weight"]}, tmp_path / "part.safetensors")
    with pytest.raises(WeightsError, match="missing"):
        VGGFeatures.from_file(tmp_path / "part.safetensors")


def test_two_processes_match_one_at_the_same_global_batch(tmp_path):
    """torchrun with 2 gloo processes, each half the batch == 1 process, whole batch."""
    script = HERE / "ddp_train.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run([*run, str(script), str(tmp_path / "two.pt")], check=True, env=env, timeout=300)
    subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt")], check=True, env=env)
    two, one = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in ("two", "one"))
    assert two["world"] == 2 and one["world"] == 1
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4, atol=1e-5)
    for k in one["params"]:
        torch.testing.assert_close(two["params"][k], one["params"][k], atol=2e-5, rtol=1e-4)


def test_recipe_writes_a_loadable_model_with_provenance(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        "[train]\nsteps = 4\nwarmup = 2\nbatch = 2\npatch = 32\nseed = 5\n"
        '[[data]]\nsource = "skimage:coffee"\n'
        '[[heldout]]\nsource = "skimage:chelsea"\nrows = [0.5, 1.0]\n'
    )
    out = tmp_path / "tiny.safetensors"
    run_recipe(recipe, out, progress=False)
    model = ncg.load_model(out, device="cpu")
    prov = model.config["provenance"]
    assert prov["steps"] == 4 and prov["seed"] == 5 and prov["data"] == ["skimage:coffee"]
    assert "skimage:chelsea rows=0.5-1" in prov["heldout_metrics"]
    assert set(prov["heldout_baselines"]["skimage:chelsea rows=0.5-1"]) == {"gray", "mean-chroma"}
    assert (tmp_path / "logs" / "tiny.csv").read_text().startswith("step,seconds,l1")
    assert not (tmp_path / "logs" / "tiny.checkpoint.safetensors").exists()


def test_recipe_resumes_from_its_checkpoint(tmp_path, capsys):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        "[train]\nsteps = 4\nwarmup = 1\nbatch = 2\npatch = 32\nlog_every = 1\n"
        '[[data]]\nsource = "skimage:coffee"\n'
    )
    run_recipe(recipe, tmp_path / "whole.safetensors", progress=False)
    # an interrupted run of the same recipe: two steps and its checkpoint
    config = TrainConfig.from_toml(recipe)
    trainer = Trainer(config, [load_source("skimage:coffee")])
    for _ in range(2):
        trainer.train_step()
    trainer.save_checkpoint(tmp_path / "logs" / "resumed.checkpoint.safetensors")
    (tmp_path / "logs" / "resumed.csv").write_text("step,seconds\n1,0\n2,0\n3,0\n")
    run_recipe(recipe, tmp_path / "resumed.safetensors", progress=False)
    assert "resuming from" in capsys.readouterr().out
    with open(tmp_path / "logs" / "resumed.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    a, b = (
        ncg.load_model(tmp_path / f"{n}.safetensors", device="cpu") for n in ("whole", "resumed")
    )
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_l1_only_recipe_is_the_regression_baseline(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        "[train]\nsteps = 2\nwarmup = 1\nbatch = 2\npatch = 32\n"
        '[[data]]\nsource = "skimage:coffee"\n'
    )
    run_recipe(recipe, tmp_path / "l1.safetensors", progress=False, l1_only=True)
    meta = read_metadata(tmp_path / "l1.safetensors")
    assert "discriminator" not in meta
    assert (
        meta["provenance"]["train_config"]["adv"] == 0 == meta["provenance"]["train_config"]["fm"]
    )


def test_evaluation_reports_every_baseline(ihc_heldout, random_generator):
    results = evaluate_model(
        "histology", {"ihc": ihc_heldout}, mean_ab=(10.0, -5.0), regression=random_generator
    )
    rows = results["ihc"]
    assert set(rows) == {"model", "gray", "mean-chroma", "l1-unet"}
    assert rows["gray"]["colorfulness"] < 1 < rows["mean-chroma"]["colorfulness"]
    # the shipped model, trained on the top half, beats leaving the slide gray
    assert rows["model"]["delta_e2000"] < rows["gray"]["delta_e2000"]


def test_unknown_recipe_keys(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text("[train]\nsteps = 4\nlearning_rate = 3\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(recipe)


def test_heldout_video_is_one_image_of_its_frames_under_its_own_name(tmp_path):
    """A held-out clip's frames stand side by side as one truth; the entries after it
    keep their own images (they were once paired with the clip's later frames)."""
    import av

    chelsea = load_source("skimage:chelsea")
    frames = [(chelsea[:64, 8 * i : 8 * i + 96] * 255).astype(np.uint8) for i in range(6)]
    with av.open(str(tmp_path / "clip.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.height, stream.width, stream.pix_fmt = 64, 96, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    specs = [{"source": "video:clip.mp4", "frames": [0.5, 1.0]}, {"source": "skimage:coffee"}]
    held = heldout_images(specs, tmp_path)
    assert list(held) == ["video:clip.mp4 frames=0.5-1", "skimage:coffee"]
    clip = held["video:clip.mp4 frames=0.5-1"]
    assert clip.shape == (64, 3 * 96, 3)
    assert np.abs(clip[:, :96] - frames[3] / 255).mean() < 0.03  # the second half's first
    np.testing.assert_array_equal(held["skimage:coffee"], load_source("skimage:coffee"))
