"""A few real training steps: the trainer learns, stays finite, saves loadable weights."""

import numpy as np
import pytest
import torch

import napari_colorgan as ncg
from napari_colorgan.train.data import PatchSampler, load_source
from napari_colorgan.train.recipe import run_recipe
from napari_colorgan.train.trainer import TrainConfig, Trainer, TrainingDiverged


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
    torch.manual_seed(0)
    trainer = Trainer(_tiny(steps=30, warmup=25, lr_g=1e-3), [astronaut])
    first = [trainer.train_step()["l1"] for _ in range(5)]
    for _ in range(20):
        trainer.train_step()
    last = [trainer.train_step()["l1"] for _ in range(5)]
    assert np.mean(last) < np.mean(first)
    logs = trainer.train_step()
    assert {"d", "adv", "fm"} <= set(logs) and all(np.isfinite(list(logs.values())))


def test_divergence_stops_with_a_clear_message(astronaut):
    trainer = Trainer(_tiny(), [astronaut])
    with torch.no_grad():
        trainer.G.head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan at step 0"):
        trainer.train_step()


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
    assert (tmp_path / "logs" / "tiny.csv").read_text().startswith("step,seconds,l1")


def test_unknown_recipe_keys(tmp_path):
    recipe = tmp_path / "bad.toml"
    recipe.write_text("[train]\nsteps = 4\nlearning_rate = 3\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(recipe)
