import os
import numpy as np
import pickle

import pytest
import torch
from safetensors.torch import save_file

import napari_colorgan as ncg
from napari_colorgan.models.discriminator import PatchDiscriminator
from napari_colorgan.models.generator import Generator, GeneratorConfig
from napari_colorgan.models.registry import (
    WeightsError,
    load_discriminator,
    pick_device,
    save_weights,
)

TINY = GeneratorConfig(widths=(4, 8), blocks=1)


@pytest.fixture
def tiny_weights(tmp_path):
    torch.manual_seed(1)
    path = save_weights(
        tmp_path / "tiny.safetensors",
        Generator(TINY),
        discriminator=PatchDiscriminator(),
        provenance={"data": ["unit test"], "steps": 0, "seed": 1},
    )
    return path


def test_shipped_models_are_listed_and_load():
    assert "general" in ncg.list_models()
    model = ncg.load_model("general", device="cpu")
    assert model.mode == "colorize"
    prov = model.config["provenance"]
    assert prov["steps"] > 0 and "heldout_metrics" in prov and prov["data"]
    assert os.path.getsize(model.source) <= 10 * 2**20


def test_round_trip_keeps_weights_config_and_provenance(tiny_weights):
    model = ncg.load_model(tiny_weights, device="cpu")
    assert model.config["widths"] == [4, 8]
    assert model.config["provenance"] == {"data": ["unit test"], "steps": 0, "seed": 1}
    torch.manual_seed(1)
    fresh = Generator(TINY)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert isinstance(load_discriminator(tiny_weights), PatchDiscriminator)
    assert not list(tiny_weights.parent.glob(".*partial"))  # atomic write left nothing behind


def test_unknown_name_lists_the_choices():
    with pytest.raises(WeightsError, match=r"unknown model 'nope'.*general"):
        ncg.load_model("nope")


def test_missing_file():
    with pytest.raises(WeightsError, match="not found"):
        ncg.load_model("/no/such/model.safetensors")


def test_truncated_file_is_refused(tiny_weights, tmp_path):
    data = tiny_weights.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="cut.safetensors"):
        ncg.load_model(cut)


def test_garbage_file_is_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    # seeded, and not starting with a pickle's 0x80 (that one is refused as a pickle)
    junk.write_bytes(b"\x00" + np.random.default_rng(0).bytes(4095))
    with pytest.raises(WeightsError, match="not a valid safetensors"):
        ncg.load_model(junk)


class _Trap:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickles_are_refused_and_never_unpickled(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(_Trap(str(marker))))
    else:
        torch.save({"weights": _Trap(str(marker))}, path)
    with pytest.raises(WeightsError, match="never unpickles"):
        ncg.load_model(path)
    assert not marker.exists()


def test_foreign_safetensors_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, path, metadata={"format": "pt"})
    with pytest.raises(WeightsError, match="not a napari-colorgan model"):
        ncg.load_model(path)


def test_weights_not_matching_config_are_refused(tiny_weights, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(tiny_weights, framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(tiny_weights)
    del tensors["generator.head.weight"]
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, bad, metadata=metadata)
    with pytest.raises(WeightsError, match="do not match"):
        ncg.load_model(bad)


def test_devices():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda:0")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu7")


def test_header_length_that_looks_like_a_pickle_is_still_safetensors(tmp_path, random_generator):
    """A header length whose first byte is 0x80 (the pickle marker) must load."""
    from napari_colorgan.models.registry import save_weights

    path = tmp_path / "m.safetensors"
    save_weights(path, random_generator, provenance={"pad": ""})
    n = int.from_bytes(path.read_bytes()[:8], "little")
    save_weights(path, random_generator, provenance={"pad": "x" * ((0x80 - n) % 256)})
    assert path.read_bytes()[0] == 0x80
    assert ncg.load_model(path, device="cpu").provenance["pad"].startswith("x")
