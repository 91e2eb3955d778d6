"""The lazy graph on dask.distributed: worker processes load the model once each."""

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import skimage.data

import napari_colorgan as ncg

distributed = pytest.importorskip("distributed")


def test_local_cluster_of_two_processes_gives_the_same_result():
    moon = skimage.data.moon()[:192, :256].astype(np.uint16) * 150
    stack = da.from_array(np.stack([moon, moon[::-1], moon[:, ::-1]]), chunks=(1, 96, 128))
    lazy = ncg.colorize(stack, "general", device="cpu")
    expected = lazy.compute(scheduler="threads")
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = client.compute(lazy).result()
        workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    # worker processes run torch with other thread counts: float rounding may differ in
    # the last bits, which can move a gamut-bisection step; the bar is the engine's own
    np.testing.assert_allclose(result, expected, rtol=0, atol=1 / 255)
    assert np.abs(result - expected).mean() < 1e-5


def test_cli_scheduler_address(tmp_path):
    import zarr

    from napari_colorgan.cli import main

    src = str(Path(__file__).resolve().parent.parent / "sample_data" / "nuclei3d.tif")
    local = tmp_path / "local.ome.zarr"
    assert main(["colorize", src, str(local), "--quiet"]) == 0
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        remote = tmp_path / "remote.ome.zarr"
        args = ["colorize", src, str(remote), "--quiet", "--scheduler", cluster.scheduler_address]
        assert main(args) == 0
    a, b = zarr.open_group(local, mode="r")["0"][:], zarr.open_group(remote, mode="r")["0"][:]
    np.testing.assert_allclose(a, b, rtol=0, atol=1 / 255)
