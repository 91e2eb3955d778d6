"""``colorize``: validate, normalise globally, run every 2-D plane through the tiles."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..io.scaling import intensity_range, warn_nonfinite
from .guided import palette_code, run_guided
from .planes import run_planes
from .spread import HINT_REACH
from .tiling import BLENDS, RENDER_SCALES


def check_gray(image) -> None:
    """Raise a ValueError naming the problem when ``image`` is not a grayscale array."""
    shape, dtype = tuple(image.shape), np.dtype(image.dtype)
    if dtype.kind in "bcmMOUSV":
        kind = {"b": "boolean", "c": "complex"}.get(dtype.kind, f"{dtype}")
        raise ValueError(f"cannot colorize a {kind} image (dtype {dtype}); pass intensities")
    if len(shape) < 2:
        raise ValueError(f"expected a grayscale image of shape (..., Y, X), got shape {shape}")
    if 0 in shape:
        raise ValueError(f"the image is empty (shape {shape})")
    if shape[-1] in (3, 4) and len(shape) >= 3 and shape[-2] > 4:
        raise ValueError(
            f"shape {shape} looks like an RGB(A) image, not grayscale: convert it first "
            "(napari_colorgan.to_gray, or --from-rgb on the command line)"
        )


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Gray intensity in [0, 1] whose sRGB lightness equals that of an RGB(A) image.

    The gray value g has the same CIELAB L as the colour pixel, so colourising it
    again keeps the original lightness.
    """
    import torch

    from ..color import lightness_to_gray, rgb_to_lab
    from ..io.scaling import to_unit_float

    t = torch.from_numpy(to_unit_float(np.asarray(rgb)[..., :3]))
    return lightness_to_gray(rgb_to_lab(t, channel_axis=-1)[..., 0]).numpy()


def colorize(
    image,
    model="general",
    *,
    tile_size: int = 512,
    overlap=None,
    batch_size: int | None = None,
    device: str = "auto",
    normalize="auto",
    render_scale: int = 1,
    blend: str = "none",
    hints=None,
    hint_reach: int = HINT_REACH,
    reference=None,
    samples: int | None = None,
    temporal: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Colourise a grayscale image of any size, dimensionality and dtype.

    Parameters
    ----------
    image : array-like, shape (..., Y, X)
        Grayscale intensities, any integer or float dtype; leading axes (Z, T...)
        are processed plane by plane. The array is never modified.
    model : str, path or Generator, optional
        A name from :func:`list_models`, a ``.safetensors`` path, or a loaded model.
    tile_size : int, optional
        Output pixels per tile side. Tiles carry a halo of the model's receptive
        field, so the result equals a whole-image pass (no seams, no blending).
    overlap : int, optional
        Halo in pixels; default (None) is the model's own, which makes tiling exact.
    batch_size : int, optional
        Tiles per forward pass; default from the tile size and free memory.
    device : str, optional
        ``"auto"`` (cuda, mps, cpu), ``"cpu"``, ``"cuda:N"`` or ``"mps"``.
    normalize : {"auto", "none"} or (float, float), optional
        How intensities map to [0, 1], from global statistics (never per tile):
        ``"auto"`` uses 0..255 for uint8 and the 0.1/99.9 percentiles of the whole
        array otherwise; ``"none"`` takes floats already in [0, 1]; or (low, high).
        NaN and infinities are left out of the statistics and rendered black
        (NaN, -inf) or white (+inf), with a warning.
    blend : {"none", "gaussian"}, optional
        - ``"none"``: crop-and-stitch, exact with the default ``overlap``.
        - ``"gaussian"``: overlapping windows averaged with Gaussian weights (as
          MONAI), for an ``overlap`` smaller than the receptive field; numpy input only.
    render_scale : {1, 2, 4}, optional
        Predict chroma at 1/``render_scale`` resolution and upsample it guided by the
        full-resolution L: much faster, L still exact, chroma a little softer
        (docs/benchmarks.md has the speed and the CIEDE2000 cost).
    hints : list of ((coords), (r, g, b)) or (rgb image, mask), optional
        Colours the user knows, for a guided model (``"guided"``): points with
        leading coordinates first and RGB in [0, 1], or a colour image with a
        boolean mask of the hinted pixels. See :func:`napari_colorgan.guide.hint_maps`.
    hint_reach : int, optional
        Pixels over which a hint pulls the colour of similar lightness towards its
        own (an edge-aware spread after the network); 0 leaves hints to the network.
        It also carries ``temporal`` mode's colours to moved pixels.
    reference : array-like, shape (..., Y, X, 3), optional
        A colour image of the same kind whose palette the result should follow; the
        only guidance that also works on dask/zarr input (one code for every chunk).
    samples : int, optional
        Return this many plausible colourings stacked on a new first axis, each
        from a palette drawn from the model's prior (see ``chroma_uncertainty``).
    temporal : bool, optional
        Colourise the first axis (time or z) in order, each plane guided by the
        previous result where the lightness has not changed: no flicker.
    seed : int, optional
        Seed of the palettes drawn for ``samples``.
    progress : bool, optional
        Show a tqdm bar counting tiles.

    Returns
    -------
    ndarray or dask.array.Array, float32, shape (..., Y, X, 3)
        sRGB in [0, 1]; lazy (nothing computed yet) for a dask or zarr input, with
        one chunk per plane on leading axes. In ``colorize`` mode its CIELAB
        lightness equals the input's. With ``samples=k``: shape (k, ..., Y, X, 3).

    Raises
    ------
    ValueError
        For 1-D, empty, RGB, boolean or complex input, or a bad setting.
    WeightsError
        For an unknown model or an unusable weights file.
    """
    from .lazy import colorize_lazy, is_lazy

    guidance = {"hints": hints, "reference": reference, "samples": samples, "temporal": temporal}
    if is_lazy(image):
        if hints is not None or samples is not None or temporal:
            raise ValueError("hints, samples and temporal need an in-memory array")
        if blend != "none":
            raise ValueError(f"blend={blend!r} needs a numpy array; lazy results are exact tiles")
        net, low, high = _prepare(
            image, model, tile_size, overlap, device, normalize, batch_size, render_scale
        )
        return colorize_lazy(
            image,
            net,
            low,
            high,
            tile_size=tile_size,
            batch_size=batch_size,
            halo=overlap,
            render_scale=render_scale,
            code=palette_code(net, reference),
        )
    steps = iter_colorize(
        image,
        model,
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        device=device,
        normalize=normalize,
        render_scale=render_scale,
        blend=blend,
        seed=seed,
        hint_reach=hint_reach,
        **guidance,
    )
    return _drive(_with_unit(steps, "tile"), progress)


def iter_colorize(
    image,
    model="general",
    *,
    tile_size: int = 512,
    overlap=None,
    batch_size: int | None = None,
    device: str = "auto",
    normalize="auto",
    render_scale: int = 1,
    blend: str = "none",
    hints=None,
    hint_reach: int = HINT_REACH,
    reference=None,
    samples: int | None = None,
    temporal: bool = False,
    seed: int = 0,
) -> Generator[tuple[int, int], None, np.ndarray]:
    """:func:`colorize` as a generator of ``(tiles_done, tiles_total)``, returning the result.

    The input is checked and the model loaded before the first tile, so bad input
    raises at once. Stop iterating to cancel: nothing is returned, nothing is kept.
    The napari widget runs this in a worker thread; :func:`colorize` drives it.
    A dask or zarr input is computed plane by plane.
    """
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    net, low, high = _prepare(
        image, model, tile_size, overlap, device, normalize, batch_size, render_scale
    )
    warn_nonfinite(image)
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    settings = (tile_size, batch_size, overlap, render_scale, blend)
    if hints is None and reference is None and samples is None and not temporal:
        return run_planes(image, net, low, high, settings)
    guidance = {"hints": hints, "reference": reference, "samples": samples, "temporal": temporal}
    return run_guided(image, net, low, high, settings, guidance, seed, hint_reach)


def _prepare(image, model, tile_size, overlap, device, normalize, batch_size=None, render_scale=1):
    """Check the input and settings, load the model, compute the global intensity range."""
    from ..models.registry import load_model
    from .lazy import as_dask, is_lazy

    check_gray(image)
    if overlap is not None and overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if tile_size < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    if render_scale not in RENDER_SCALES:
        raise ValueError(f"render_scale must be one of {RENDER_SCALES}, got {render_scale}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (or None for automatic), got {batch_size}")
    net = model if hasattr(model, "halo") else load_model(model, device)
    low, high = intensity_range(as_dask(image) if is_lazy(image) else image, normalize)
    return net, low, high


def colorize_to_file(
    src,
    dst,
    model="general",
    *,
    resume: bool = True,
    level: int = 0,
    dtype: str = "uint8",
    tile_size: int = 512,
    batch_size: int | None = None,
    device: str = "auto",
    normalize="auto",
    render_scale: int = 1,
    reference=None,
    progress: bool = False,
):
    """Colourise a file (or array) into a file, streaming where the format allows.

    Parameters
    ----------
    src : path-like or array
        TIFF/BigTIFF/OME-TIFF, zarr, OME-Zarr (``level`` picks the pyramid level),
        PNG, JPEG, or a numpy/dask/zarr array.
    dst : path-like
        ``.ome.zarr``: OME-Zarr with colour as a channel axis, a pyramid and the
        input's physical scale; ``.zarr``: a group with one ``(..., Y, X, 3)``
        float32 array. ``.tif`` / ``.ome.tif``: tiled BigTIFF (a pyramid for 2-D;
        OME-TIFF with the physical pixel size), as ``dtype``. All three stream chunk
        by chunk (memory bounded by the chunks in flight) and resume after an
        interruption. ``.png`` / ``.jpg``: 2-D only, computed in memory, written
        atomically.
    resume : bool, optional
        Continue an unfinished zarr output instead of starting again.
    Other parameters
        As for :func:`colorize`.

    Returns
    -------
    pathlib.Path
        ``dst``.
    """
    steps = iter_colorize_to_file(
        src,
        dst,
        model,
        resume=resume,
        level=level,
        dtype=dtype,
        tile_size=tile_size,
        batch_size=batch_size,
        device=device,
        normalize=normalize,
        render_scale=render_scale,
        reference=reference,
    )
    return _drive(steps, progress)


def iter_colorize_to_file(
    src,
    dst,
    model="general",
    *,
    resume=True,
    level=0,
    dtype="uint8",
    tile_size=512,
    batch_size=None,
    device="auto",
    normalize="auto",
    render_scale=1,
    reference=None,
):
    """:func:`colorize_to_file` as a generator of ``(unit, done, total)`` progress."""
    from pathlib import Path

    from ..io.readers import open_image
    from ..io.writers import FLAT_SUFFIXES, check_destination, write_image
    from .lazy import colorize_lazy

    is_path = isinstance(src, (str, Path))
    image, scale = open_image(src, level=level) if is_path else (src, None)
    check_gray(image)
    dst = check_destination(dst, image.ndim, dtype)
    if is_path and Path(src).resolve() == dst.resolve():
        raise ValueError(f"the output {dst} is the input; write to another path")
    if dst.suffix.lower() in FLAT_SUFFIXES:  # PNG and JPEG cannot stream: computed in memory
        steps = iter_colorize(
            image,
            model,
            tile_size=tile_size,
            batch_size=batch_size,
            device=device,
            normalize=normalize,
            render_scale=render_scale,
            reference=reference,
        )
        rgb = yield from _with_unit(steps, "tile")
        return write_image(dst, rgb, dtype)
    from ..io.tiff_sink import write_tiff
    from ..io.zarr_sink import write_zarr

    net, low, high = _prepare(
        image, model, tile_size, None, device, normalize, batch_size, render_scale
    )
    code = palette_code(net, reference)
    rgb = colorize_lazy(
        image,
        net,
        low,
        high,
        tile_size=tile_size,
        batch_size=batch_size,
        halo=None,
        render_scale=render_scale,
        code=code,
    )
    attrs = {
        "source": _identity(src) if is_path else "array",
        "model": _identity(net.source) if hasattr(net, "source") else _digest(net),
        "intensity_range": [low, high],
        "tile_size": tile_size,
        "render_scale": render_scale,
    }
    if code is not None:  # a resumed output must follow the same palette
        attrs["reference_code"] = [round(float(v), 6) for v in code]
    if dst.suffix.lower() == ".zarr":
        ome = dst.name.lower().endswith(".ome.zarr")
        steps = write_zarr(rgb, dst, ome=ome, scale=scale, attrs=attrs, resume=resume)
        for name, done, total in steps:
            yield f"chunk (level {name})", done, total
    else:
        yield from write_tiff(rgb, dst, dtype=dtype, scale=scale, attrs=attrs, resume=resume)
    return dst


def _with_unit(steps, unit: str):
    """Relay ``(done, total)`` progress as ``(unit, done, total)`` and return the result."""
    while True:
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        yield unit, done, total


def _drive(steps, progress: bool):
    """Run a ``(unit, done, total)`` generator to its end, with a tqdm bar per unit."""
    from tqdm.auto import tqdm

    bar = None
    try:
        while True:
            try:
                unit, done, total = next(steps)
            except StopIteration as finished:
                return finished.value
            if progress and (bar is None or bar.unit != unit):
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total, unit=unit)
            if bar is not None:
                bar.update(done - bar.n)
    finally:
        if bar is not None:
            bar.close()


def _identity(path) -> str:
    """A file's path, size and modification time: what resuming must find unchanged."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        return str(path)
    stat = path.stat()
    return f"{path.resolve()} ({stat.st_size} bytes, mtime {stat.st_mtime_ns})"


def _digest(net) -> str:
    """SHA-256 of a model's weights, for models that did not come from a file."""
    import hashlib

    h = hashlib.sha256()
    for value in net.state_dict().values():
        h.update(value.detach().cpu().numpy().tobytes())
    return f"weights sha256:{h.hexdigest()}"
