"""One cached model shared by threads: napari workers and dask's threaded scheduler."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import tifffile

import napari_colorgan as ncg
from napari_colorgan.models import domain
from napari_colorgan.models.registry import load_model

NUCLEI = Path(__file__).resolve().parent.parent / "sample_data" / "nuclei3d.tif"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(domain, "_warned", set())
    monkeypatch.setattr(domain, "_measured", {})


def _images() -> list[np.ndarray]:
    """Four different gray images: the domain check runs once for each."""
    nuclei = tifffile.imread(NUCLEI)
    return [
        skimage.data.camera()[:128, :160],
        skimage.data.moon()[100:228, 40:200],
        nuclei[10, :128, :128],
        nuclei[20, :128, :128],
    ]


def test_threads_sharing_one_model_match_a_serial_run(recwarn):
    """histology has domain statistics: every thread checks the domain, then tiles,
    all at once (a barrier), so one thread's check overlaps another's forward passes."""
    images = _images() + [image[::-1] for image in _images()]
    options = {"device": "cpu", "tile_size": 64, "precision": "float32"}
    serial = [ncg.colorize(image, "histology", **options) for image in images]
    domain._measured.clear()  # every thread checks its view again...
    domain._warned.clear()  # ...and one of them warns
    start = threading.Barrier(len(images))

    def run(image):
        start.wait()
        return ncg.colorize(image, "histology", **options)

    with ThreadPoolExecutor(len(images)) as pool:
        shared = list(pool.map(run, images))
    for one, other in zip(serial, shared):
        np.testing.assert_allclose(one, other, atol=1e-6)
    net = load_model("histology", "cpu")
    assert not any(module._forward_hooks for module in net.modules())


def test_domain_features_in_threads_match_serial():
    net = load_model("histology", "cpu")
    views = [im.astype(np.float32) / im.max() for im in _images()]
    serial = [domain.features(net, view) for view in views * 2]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda v: domain.features(net, v), views * 2))
    for one, other in zip(serial, threaded):
        np.testing.assert_array_equal(one, other)


def test_dask_threaded_compute_on_the_cached_model_matches_numpy():
    import dask
    import dask.array as da

    stack = np.stack(_images()[:2])
    lazy = ncg.colorize(da.from_array(stack, chunks=(1, 64, 64)), "histology", device="cpu")
    with dask.config.set(scheduler="threads", num_workers=4):
        computed = lazy.compute()
    np.testing.assert_allclose(computed, ncg.colorize(stack, "histology", device="cpu"), atol=1e-4)


def test_the_contract_is_a_leaf():
    """models/contract.py imports nothing of the package, so nothing can import it back."""
    import ast

    import napari_colorgan.models.contract as contract

    tree = ast.parse(Path(contract.__file__).read_text())
    ours = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.level or (node.module or "").startswith("napari_colorgan"))
    ]
    assert ours == []
