"""The out-of-domain warning: the models' own features on real in- and out-of-domain images."""

import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import tifffile

from napari_colorgan.io.scaling import intensity_range
from napari_colorgan.models import domain
from napari_colorgan.models.domain import DOMAIN_LIMIT, DomainWarning, check_domain
from napari_colorgan.models.registry import load_model

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(domain, "_warned", set())


def _check(model, image, normalize="auto"):
    return check_domain(load_model(model, "cpu"), image, intensity_range(image, normalize))


def test_astronomy_warns_once_on_fluorescence():
    # histology, retrained to read camera and luma grays, no longer tells fluorescence
    # from its slides (0.9; docs/evaluation.md): astronomy still does
    nuclei = tifffile.imread(SAMPLES / "nuclei3d.tif")
    with pytest.warns(DomainWarning, match="fine-tune"):
        far = _check("astronomy", nuclei)
    assert far > DOMAIN_LIMIT
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        assert _check("astronomy", nuclei) is None  # once per model and process


def test_in_domain_images_do_not_warn(recwarn):
    assert _check("histology", iio.imread(SAMPLES / "ihc_bottom.png")) < DOMAIN_LIMIT
    assert _check("astronomy", tifffile.imread(SAMPLES / "hubble_right_uint16.tif")) < DOMAIN_LIMIT
    assert not [w for w in recwarn if issubclass(w.category, DomainWarning)]


def test_astronomy_warns_on_a_histology_slide():
    # matched, the astronomy model judges texture alone: 4.5 (it was 9 and more unmatched)
    with pytest.warns(DomainWarning, match="'astronomy'"):
        assert _check("astronomy", iio.imread(SAMPLES / "he_skin.png")) > DOMAIN_LIMIT


@pytest.mark.parametrize(
    "formation, normalize",
    [("luma", "auto"), ("linear16", "auto"), ("camera12", "auto"), ("gamma0.6", "auto"),
     ("linear12", "linear"), ("camera16", "linear")],
)  # fmt: skip
def test_camera_grays_of_a_models_own_domain_do_not_warn(recwarn, formation, normalize):
    from napari_colorgan.grays import make_gray

    ihc = skimage.data.immunohistochemistry()[256:].astype(np.float32) / 255
    hubble = skimage.data.hubble_deep_field()[:, 600:].astype(np.float32) / 255
    retina = skimage.data.retina()[700:].astype(np.float32) / 255
    assert _check("histology", make_gray(ihc, formation), normalize) < DOMAIN_LIMIT
    assert _check("astronomy", make_gray(hubble, formation), normalize) < DOMAIN_LIMIT
    # another domain (6.7 to 7.4); matched astronomy puts the IHC half at 3.9 to 4.6 only
    # (docs/evaluation.md, "Matching"), so it is not the example here
    assert _check("astronomy", make_gray(retina, formation), normalize) > DOMAIN_LIMIT


def test_a_model_without_statistics_is_not_judged(random_generator):
    image = iio.imread(SAMPLES / "moon.png")
    assert check_domain(random_generator, image, (0.0, 255.0)) is None


def test_encode_is_the_bottleneck_of_the_forward_pass(camera):
    """The domain check's features come from Generator.encode, the encoder half of forward."""
    import torch

    net = load_model("guided", "cpu")
    L = torch.from_numpy(camera[:64, :96].astype("float32") / 2.55)[None, None]
    seen = []
    hook = net.bottleneck.register_forward_hook(lambda m, i, out: seen.append(out))
    try:
        with torch.inference_mode():
            net(L)
            encoded = net.encode(L)
    finally:
        hook.remove()
    torch.testing.assert_close(encoded, seen[0], rtol=0, atol=0)
