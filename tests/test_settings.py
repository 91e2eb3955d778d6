"""The Colorize widget's kept settings: one typed record, read back only where it applies."""

import json

from napari_colorgan._settings import ColorizeSettings, load_settings, save_settings
from napari_colorgan.models.registry import list_models, resolve

DEVICES = ["auto", "cpu"]


def test_a_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "colorize.json"
    chosen = ColorizeSettings(model="histology", tile_size=256, scope="live", samples=3)
    save_settings(path, chosen)
    assert load_settings(path, DEVICES, list_models()) == chosen


def test_values_of_the_wrong_type_or_no_longer_there_are_dropped(tmp_path):
    path = tmp_path / "colorize.json"
    saved = {
        "model": str(tmp_path / "gone.safetensors"),  # a weights file deleted since
        "device": "cuda:3",  # a device this machine lacks
        "tile_size": "512",  # a string, not an int
        "render_scale": 2,
        "samples": 1,  # one sample is no spread
        "hint_reach": True,  # a bool is not an int here
        "unknown": 5,
    }
    path.write_text(json.dumps(saved))
    assert load_settings(path, DEVICES, list_models()) == ColorizeSettings(render_scale=2)


def test_a_weights_path_that_exists_is_kept(tmp_path):
    path = tmp_path / "colorize.json"
    weights = str(resolve("histology"))
    path.write_text(json.dumps({"model": weights}))
    assert load_settings(path, DEVICES, list_models()).model == weights


def test_no_file_or_a_corrupt_one_gives_the_defaults(tmp_path):
    assert load_settings(None, DEVICES, list_models()) == ColorizeSettings()
    (tmp_path / "bad.json").write_text("{not json")
    assert load_settings(tmp_path / "bad.json", DEVICES, list_models()) == ColorizeSettings()
    (tmp_path / "list.json").write_text("[1, 2]")
    assert load_settings(tmp_path / "list.json", DEVICES, list_models()) == ColorizeSettings()
