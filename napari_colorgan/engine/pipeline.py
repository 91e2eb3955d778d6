"""``colorize``: validate, normalise globally, run every 2-D plane through the tiles."""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import remove_partials
from ..io.lock import output_lock
from ..io.scaling import Intensity, intensity_range, warn_nonfinite
from ..models.contract import ColorModel, model_device
from .context import image_code
from .guided import palette_code, run_guided
from .planes import run_planes
from .progress import Progress, drive, staged
from .settings import Guidance, TileSettings, settings_from
from .spread import HINT_REACH


#: Largest image colorize accepts: 2^50 pixels, two weeks at 1000 MP/s.
MAX_PIXELS = float(1 << 50)


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def check_gray(image: Any) -> None:
    """Raise a ValueError naming the problem when ``image`` is not a grayscale array."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise ValueError(
            f"cannot colorize a {type(image).__name__}: pass a numpy, dask or zarr array "
            "(a zarr group's array, e.g. group['0']), or a path to colorize_to_file"
        )
    try:
        shape, dtype = tuple(image.shape), np.dtype(image.dtype)
    except TypeError:
        raise ValueError(
            f"cannot colorize a {type(image).__name__} of dtype {image.dtype}: pass a numpy, "
            "dask or zarr array (e.g. tensor.numpy())"
        ) from None
    if dtype.kind in "US":
        raise ValueError(
            f"cannot colorize text ({str(np.asarray(image))[:60]!r}): colorize takes an "
            "array; colorize_to_file takes a path"
        )
    if dtype.kind in "bcmMOUSV":
        kind = {"b": "boolean", "c": "complex"}.get(dtype.kind, f"{dtype}")
        raise ValueError(f"cannot colorize a {kind} image (dtype {dtype}); pass intensities")
    if len(shape) < 2:
        raise ValueError(f"expected a grayscale image of shape (..., Y, X), got shape {shape}")
    if any(n != n for n in shape):  # NaN: a dask array after boolean indexing
        raise ValueError(
            f"the image has unknown chunk sizes (shape {shape}); call its "
            ".compute_chunk_sizes() or rechunk it first"
        )
    if 0 in shape:
        raise ValueError(f"the image is empty (shape {shape})")
    pixels = float(np.prod(shape, dtype=np.float64))
    if pixels > MAX_PIXELS:
        raise ValueError(
            f"the image has {pixels:.3g} pixels (shape {shape}): about "
            f"{_duration(pixels / 1e6)} at 1 MP/s (two CPU cores), {_duration(pixels / 1e9)} "
            "at 1000 MP/s (a fast GPU); colorize a region or a pyramid level of it"
        )
    if shape[-1] in (3, 4) and len(shape) >= 3 and shape[-2] > 4:
        raise ValueError(
            f"shape {shape} looks like an RGB(A) image, not grayscale: convert it first "
            "(napari_colorgan.to_gray, or --from-rgb on the command line)"
        )


def check_unit_range(image: Any) -> None:
    """Refuse ``normalize="none"`` for data that are not floats in [0, 1].

    Integers would all map to white; a numpy array is checked whole, a lazy one
    by its bounded sample (:func:`~napari_colorgan.io.scaling.bounded_sample`).
    """
    from ..io.scaling import bounded_sample
    from .lazy import is_lazy

    dtype = np.dtype(image.dtype)
    if dtype.kind != "f":
        auto = "0..255" if dtype == np.uint8 else "its 0.1 to 99.9 percentiles"
        raise ValueError(
            f'normalize="none" takes floats already in [0, 1], got {dtype} data; use '
            f'normalize="auto" ({auto}) or a range (low, high)'
        )
    values = bounded_sample(image) if is_lazy(image) else np.asarray(image)
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(
            f'normalize="none" takes values in [0, 1], got {finite.min():.4g} to '
            f'{finite.max():.4g}; use normalize="auto" or a range (low, high)'
        )


def one_gray(image: Any) -> Any:
    """``(..., Y, X, 1)`` is one gray image ``(..., Y, X)``, not a stack of 1-pixel columns."""
    shape = getattr(image, "shape", ())
    if len(shape) < 3 or shape[-1] != 1:
        return image
    from .lazy import as_dask, is_lazy

    return (as_dask(image) if is_lazy(image) else image)[..., 0]  # zarr stays lazy


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Gray intensity in [0, 1] whose sRGB lightness equals that of an RGB(A) image.

    The gray value g has the same CIELAB L as the colour pixel, so colourising it
    again keeps the original lightness.
    """
    import torch

    from ..color import lightness_to_gray, rgb_to_lab
    from ..io.scaling import to_unit_float

    rgb = np.asarray(rgb)
    if rgb.ndim < 3 or rgb.shape[-1] not in (3, 4):
        raise ValueError(
            f"to_gray needs an RGB(A) image of shape (..., Y, X, 3 | 4), got shape {rgb.shape}"
        )
    if rgb.dtype.kind == "f" and rgb.size and not 0 <= np.nanmin(rgb) <= np.nanmax(rgb) <= 1:
        raise ValueError(
            f"to_gray takes float RGB in [0, 1] or integers, got values in "
            f"[{np.nanmin(rgb):g}, {np.nanmax(rgb):g}]"
        )
    t = torch.from_numpy(to_unit_float(rgb[..., :3]))
    return lightness_to_gray(rgb_to_lab(t, channel_axis=-1)[..., 0]).numpy()


def colorize(
    image: Any,
    model: Any = None,
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    normalize: Any = "auto",
    render_scale: int = 1,
    blend: str = "none",
    hints: Any = None,
    hint_reach: int = HINT_REACH,
    reference: Any = None,
    samples: int | None = None,
    temporal: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> Any:
    """Colourise a grayscale image of any size, dimensionality and dtype.

    Parameters
    ----------
    image : array-like, shape (..., Y, X)
        Grayscale intensities, any dtype; leading axes (Z, T...) are processed
        plane by plane. The array is never modified.
    model : str, path or ColorModel, optional
        A name from :func:`list_models`, a ``.safetensors`` path, or a loaded model.
        Default: ``"guided"`` when hints, a reference, samples or temporal are
        given, else ``"general"``.
    tile_size, overlap, batch_size, device, render_scale, blend : optional
        How the image is tiled and run (:class:`~.settings.TileSettings`); the
        default ``overlap`` makes the result equal a whole-image pass, and
        ``tile_size`` / ``batch_size`` of None the measured defaults for the device.
    precision : {"auto", "float32", "bfloat16"}, optional
        Number format of the network: ``"auto"`` runs it under bf16 autocast on
        CPUs that compute bf16 natively (AVX512-BF16, AMX), AMP on CUDA, float32
        elsewhere; ``"float32"`` forces full precision. Lightness and the colour
        conversion are float32 in every case.
    normalize : {"auto", "percentiles", "linear", "none"} or (float, float), optional
        How intensities map to [0, 1], from global statistics (never per tile):
        ``"auto"`` uses 0..255 for uint8 and the 0.1/99.9 percentiles of the whole
        array otherwise; ``"linear"`` the percentiles for a gray that is linear in
        light (a monochrome camera), which is then sRGB-encoded as lightness is;
        ``"none"`` takes floats already in [0, 1]; or (low, high)
        (:func:`~napari_colorgan.io.scaling.intensity_range`).
        NaN and infinities are left out of the statistics and shown black (NaN,
        -inf) or white (+inf), with a warning.
    hints, hint_reach, reference, samples, temporal, seed : optional
        Guidance for a guided model (:class:`~.settings.Guidance`); only a
        ``reference`` also works on dask/zarr input.
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
        For 1-D, empty, RGB, boolean or complex input, a bad setting, or an
        unknown model or unusable weights file (a ``WeightsError``).
    """
    # both in their fields' order
    tiles = TileSettings(tile_size, overlap, batch_size, render_scale, blend, device, precision)
    guidance = Guidance(hints, hint_reach, reference, samples, temporal, seed)
    return colorize_with(image, model, tiles, guidance, normalize=normalize, progress=progress)


def colorize_with(
    image: Any,
    model: Any,
    tiles: TileSettings,
    guidance: Guidance | None = None,
    *,
    normalize: Any = "auto",
    progress: bool = False,
    whole: Any = None,
) -> Any:
    """:func:`colorize` with its settings already built: the one implementation.

    A dask or zarr ``image`` gives a lazy result (one task per chunk); any other
    array runs :func:`colorize_steps` to its end. ``whole``: as for
    :func:`colorize_steps`.
    """
    from .lazy import colorize_lazy, is_lazy

    guidance = guidance or Guidance()
    if not is_lazy(image):
        return drive(colorize_steps(image, model, tiles, guidance, normalize, whole), progress)
    if guidance.per_plane:
        raise ValueError("hints, samples and temporal need an in-memory array")
    if tiles.blend != "none":
        raise ValueError(f"blend={tiles.blend!r} needs a numpy array; lazy results are exact tiles")
    image = one_gray(image)
    net, intensity, context = _prepare(image, pick_model(model, guidance), tiles, normalize, whole)
    code = palette_code(net, guidance.reference)
    return colorize_lazy(image, net, intensity, tiles, code=code, context=context)


def iter_colorize(
    image: Any, model: Any = None, *, normalize: Any = "auto", **options: Any
) -> Generator[Progress, None, Any]:
    """:func:`colorize` as a generator of tile :class:`~.progress.Progress`, returning the result.

    ``options`` are :func:`colorize`'s keywords (``tile_size`` ... ``seed``, not
    ``progress``). The input is checked and the model loaded before the first
    tile, so bad input raises at once. Stop iterating to cancel: nothing is
    returned, nothing is kept. A dask or zarr input is computed plane by plane.
    """
    tiles, guidance = settings_from(options)
    return colorize_steps(image, model, tiles, guidance, normalize)


def colorize_steps(
    image: Any,
    model: Any,
    tiles: TileSettings,
    guidance: Guidance,
    normalize: Any = "auto",
    whole: Any = None,
) -> Generator[Progress, None, Any]:
    """The in-memory colourisation, a generator of tile progress returning the colour.

    The napari widget runs this in a worker thread with the settings it read.
    ``whole`` is the image or stack that ``image`` is a part of (a layer whose current
    plane alone is colourised): a matched model's lookup comes from it, so a plane
    gets the colours it has in the whole stack.
    """
    model = pick_model(model, guidance)
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    image = one_gray(image)
    net, intensity, context = _prepare(image, model, tiles, normalize, whole)
    warn_nonfinite(image)
    if guidance.is_empty:
        return staged(run_planes(image, net, intensity, tiles, context=context), "tile")
    return staged(run_guided(image, net, intensity, tiles, guidance, context), "tile")


def pick_model(model: Any, guidance: Guidance) -> Any:
    """``model``, or the default for what guides the run: ``guided`` or ``general``."""
    if model is not None:
        return model
    return "general" if guidance.is_empty else "guided"


def _prepare(
    image: Any, model: Any, tiles: TileSettings, normalize: Any, whole: Any = None
) -> tuple[ColorModel, Intensity, np.ndarray | None]:
    """Check the input, load the model, compute the global intensity range and, for a
    context or matched model, what it reads of the whole image (:func:`~.context.image_code`).

    A shipped model also checks that the input resembles its training data and
    warns once if not (:func:`~napari_colorgan.models.domain.check_domain`).
    """
    from ..models.registry import as_model
    from ..models.domain import check_domain
    from .lazy import as_dask, is_lazy

    check_gray(image)
    if isinstance(normalize, str) and normalize == "none":
        check_unit_range(image)
    net = as_model(model, tiles.device)
    tiles.check_for(net.stride)
    intensity = model_intensity(as_dask(image) if is_lazy(image) else image, normalize, net)
    code = image_code(net, image if whole is None else whole, intensity)
    check_domain(net, image, intensity, code if getattr(net.arch, "matched", False) else None)
    return net, intensity, code


def model_intensity(image: Any, normalize: Any, net: ColorModel) -> Intensity:
    """:func:`~napari_colorgan.io.scaling.intensity_range`, with ``"auto"`` reading a
    stretched gray as ``net`` reads its domain's cameras (``arch.linear_cameras``)."""
    cameras = getattr(net.arch, "linear_cameras", False)
    return intensity_range(image, normalize, linear_cameras=cameras)


def colorize_to_file(
    src: Any, dst: str | Path, model: Any = None, *, progress: bool = False, **options: Any
) -> Path | list[Path]:
    """Colourise a file (or array) into a file, streaming where the format allows.

    Parameters
    ----------
    src : path-like or array
        TIFF/BigTIFF/OME-TIFF, zarr, OME-Zarr (``level`` picks the pyramid level),
        FITS (``.fits .fit .fts .fz``; its WCS is kept in the output), video
        (``.mp4 .avi .mov .mkv``, frames first, decoded in chunks), PNG, JPEG, or a
        numpy/dask/zarr array.
    dst : path-like
        ``.ome.zarr``: OME-Zarr with colour as a channel axis, a pyramid and the
        input's physical scale; ``.zarr``: a group with one ``(..., Y, X, 3)``
        array, as ``dtype``. ``.tif`` / ``.ome.tif``: tiled BigTIFF (a pyramid for 2-D;
        OME-TIFF with the physical pixel size), as ``dtype``. All three stream chunk
        by chunk (memory bounded by the chunks in flight) and resume after an
        interruption. ``.png`` / ``.jpg``: 2-D only, computed in memory, written
        atomically. ``.mp4``: frames ``(T, Y, X)`` as H.264 at the input video's
        frame rate (25 fps for other inputs), colourised frame by frame
        (``temporal`` follows each frame from the last), resumable, renamed into
        place when complete. The input's axis units and a FITS WCS (OME-Zarr
        attribute ``colorgan.fits_wcs``, TIFF description) go with the result.
    from_rgb : bool, optional
        ``src`` is colour: colourise its CIELAB lightness (a video is converted
        chunk by chunk, other inputs in memory).
    resume : bool, optional
        Continue an unfinished zarr output instead of starting again (default True).
    level : int, optional
        Pyramid level of a multiscale input (default 0, full resolution).
    dtype : {"uint8", "uint16", "float32"}, optional
        Sample type of the file, in every format (float32 not in PNG or JPEG).
        Default: uint16 for integer input of more than 8 bits (uint8 for JPEG),
        uint8 otherwise. zarr and OME-Zarr chunks are zstd-compressed.
    tile_size, batch_size, device, precision, normalize, render_scale, reference : optional
        As for :func:`colorize`.
    hints, hint_reach, samples, temporal, seed : optional
        Guidance as for :func:`colorize`; the image is then colourised in memory
        and written to PNG, JPEG or TIFF. ``samples=k`` writes ``<dst>_sample<i>``
        for each colouring and ``<dst>_uncertainty.tif``, their chroma spread
        (float32, CIELAB units, see :func:`~napari_colorgan.chroma_uncertainty`).
    progress : bool, optional
        Show a tqdm bar per stage (tiles, chunks, TIFF levels).

    Returns
    -------
    pathlib.Path or list of pathlib.Path
        ``dst``; with ``samples``, every file written.
    """
    steps = iter_colorize_to_file(src, dst, model, **options)
    return drive(steps, progress)


def iter_colorize_to_file(
    src: Any,
    dst: str | Path,
    model: Any = None,
    *,
    resume: bool = True,
    level: int = 0,
    dtype: str | None = None,
    normalize: Any = "auto",
    from_rgb: bool = False,
    **options: Any,
) -> Generator[Progress, None, Path | list[Path]]:
    """:func:`colorize_to_file` as a generator of :class:`~.progress.Progress`.

    ``options`` are :func:`colorize`'s tiling and guidance keywords.
    """
    from ..io.scaling import default_out_dtype
    from ..io.writers import check_destination

    tiles, guidance = settings_from(options)
    is_path = isinstance(src, (str, Path))
    if not is_path and level != 0:
        raise ValueError(
            f"level picks a file's pyramid level; an array has no pyramid, got level={level}"
        )
    opened = _Source.open(src, level, from_rgb) if is_path else _Source(src, from_rgb=from_rgb)
    image = opened.image = one_gray(opened.image)
    check_gray(image)
    dtype = dtype or default_out_dtype(image.dtype, Path(dst).suffix)
    dst = check_destination(dst, image.ndim, dtype)
    if is_path:
        _check_apart(Path(src), dst)
    with output_lock(dst):  # one writer per output, from the first step to the last
        remove_partials(dst)  # what a killed run left
        model = pick_model(model, guidance)
        if dst.suffix.lower() == ".mp4":
            net, intensity, context = _prepare(opened.image, model, tiles, normalize)
            mp4 = _to_mp4(opened, dst, net, intensity, context, tiles, guidance, resume)
            return (yield from mp4)
        return (yield from _to_file(opened, dst, model, tiles, guidance, resume, dtype, normalize))


def _check_apart(src: Path, dst: Path) -> None:
    """Refuse an output that is the input, lies inside it or holds it."""
    here, there = src.resolve(), dst.resolve()
    if here == there:
        raise ValueError(f"the output {dst} is the input; write to another path")
    if there.is_relative_to(here):
        raise ValueError(f"the output {dst} is inside the input {src}; write to another path")
    if here.is_relative_to(there):
        raise ValueError(f"the input {src} is inside the output {dst}; write to another path")


def _to_file(
    opened: _Source,
    dst: Path,
    model: Any,
    tiles: TileSettings,
    guidance: Guidance,
    resume: bool,
    dtype: str,
    normalize: Any,
) -> Generator[Progress, None, Path | list[Path]]:
    """The body of :func:`iter_colorize_to_file`, under the output's lock."""
    from ..io.writers import FLAT_SUFFIXES, write_image
    from .lazy import colorize_lazy

    image = opened.image

    if guidance.per_plane and dst.suffix.lower() == ".zarr":
        raise ValueError("hints, samples and temporal colourise in memory: write a .tif or .png")
    if guidance.per_plane or dst.suffix.lower() in FLAT_SUFFIXES:  # computed in memory
        image = np.asarray(image) if guidance.per_plane else image
        steps = colorize_steps(image, model, tiles, guidance, normalize)
        rgb = yield from steps
        if guidance.samples is None:
            return write_image(dst, rgb, dtype)
        return _write_samples(dst, rgb, dtype)
    if tiles.blend != "none":
        raise ValueError(f"blend={tiles.blend!r} needs an in-memory output (.png, .jpg)")
    net, intensity, context = _prepare(image, model, tiles, normalize)
    code = palette_code(net, guidance.reference)
    attrs = {**_record(net, intensity, tiles, code, context), **opened.attrs}
    rgb = colorize_lazy(image, net, intensity, tiles, code=code, context=context)
    yield from _stream(rgb, opened, dst, dtype, attrs, resume)
    return dst


def _record(
    net: ColorModel, intensity: Intensity, tiles: TileSettings, code: Any, context: Any = None
) -> dict:
    """What an output's pixels depend on; the input itself is fingerprinted by the sink."""
    from ..models.registry import weights_digest
    from .runner import plane_halo

    where = model_device(net)
    attrs = {
        "model": weights_digest(net.source) if net.source else _digest(net),
        "intensity_range": [intensity.low, intensity.high],
        "halo": plane_halo(net, tiles.render_scale, tiles.overlap),  # overlap and render scale
        "tile_size": tiles.tile_size_on(where),
        "precision": tiles.precision_on(where).dtype,  # resumed chunks must match
        "render_scale": tiles.render_scale,
    }
    if intensity.linear:  # the same tone curve
        attrs["linear_light"] = True
    if code is not None:  # a resumed output must follow the same palette
        attrs["reference_code"] = [round(float(v), 6) for v in code]
    if context is not None and getattr(net.arch, "matched", False):  # the same lookup
        lookup = np.ascontiguousarray(context, np.float32).tobytes()
        attrs["lookup"] = hashlib.blake2b(lookup, digest_size=16).hexdigest()
    elif context is not None:  # and the same image code
        attrs["context_code"] = [round(float(v), 6) for v in context]
    return attrs


def _to_mp4(
    opened: _Source,
    dst: Path,
    net: ColorModel,
    intensity: Intensity,
    context: np.ndarray | None,
    tiles: TileSettings,
    guidance: Guidance,
    resume: bool,
) -> Generator[Progress, None, Path]:
    """Frames into an H.264 MP4, one chunk decoded at a time (see :mod:`.film`)."""
    from ..io.video import Mp4Sink
    from .film import colorize_frames

    code = palette_code(net, guidance.reference)
    attrs = {**_record(net, intensity, tiles, code, context), "temporal": guidance.temporal}
    sink = Mp4Sink(dst, opened.image.shape, opened.fps, attrs, resume=resume, source=opened.image)
    frames = colorize_frames(opened.image, sink, net, intensity, tiles, guidance, context)
    return (yield from frames)


class _Source:
    """An input opened for colourising, with what its output keeps besides pixels.

    ``attrs`` go into the output's record (a FITS WCS as ``fits_wcs``), ``units``
    are the axes' units, ``description`` is text for a TIFF (the WCS cards), and
    ``fps`` is a video's frame rate (25 for other inputs).
    """

    def __init__(self, image: Any, scale: Any = None, *, from_rgb: bool = False, **extras: Any):
        if from_rgb and not extras.get("decoded"):
            if image.ndim < 3 or image.shape[-1] not in (3, 4):
                raise ValueError(f"from_rgb needs an RGB(A) image, got shape {image.shape}")
            image = to_gray(np.asarray(image))
        self.image, self.scale = image, scale
        self.units = extras.get("units")
        self.fps = extras.get("fps") or 25
        self.attrs: dict = {}
        self.description: str | None = None

    @classmethod
    def open(cls, path: str | Path, level: int, from_rgb: bool) -> _Source:
        """Open ``path`` as :func:`~napari_colorgan.io.readers.open_image` does, plus extras."""
        from ..io.fits import cards_text, is_fits, wcs_cards
        from ..io.readers import open_image
        from ..io.units import input_units
        from ..io.video import is_video, open_video

        if is_video(path):
            if level != 0:
                raise ValueError(f"{Path(path).name} is a video (one level), got level={level}")
            frames, fps = open_video(path, from_rgb=from_rgb)
            return cls(frames, fps=fps, decoded=True)
        image, scale = open_image(path, level=level)
        opened = cls(image, scale, from_rgb=from_rgb, units=input_units(path, level))
        cards = wcs_cards(path) if is_fits(path) else None
        if cards:
            opened.attrs = {"fits_wcs": cards}
            opened.description = cards_text(cards)
        return opened


def _write_samples(dst: Path, rgb: np.ndarray, dtype: str) -> list[Path]:
    """Each sampled colouring as ``<dst>_sample<i>``, and their chroma spread as a TIFF."""
    import tifffile

    from ..guide import chroma_uncertainty
    from ..io.atomic import atomic_write
    from ..io.writers import write_image

    written = [
        write_image(dst.with_name(f"{dst.stem}_sample{i}{dst.suffix}"), sample, dtype)
        for i, sample in enumerate(rgb)
    ]
    spread = dst.with_name(f"{dst.stem}_uncertainty.tif")
    with atomic_write(spread) as tmp:
        tifffile.imwrite(tmp, chroma_uncertainty(rgb).astype(np.float32))
    return [*written, spread]


def _stream(
    rgb: Any, opened: _Source, dst: Path, dtype: str, attrs: dict, resume: bool
) -> Iterator[Progress]:
    """Write a lazy result chunk by chunk to zarr/OME-Zarr or a tiled TIFF.

    ``opened.image`` is the gray input, fingerprinted under every chunk written;
    its scale, units and description (a FITS WCS) go with the result.
    """
    source, scale, units = opened.image, opened.scale, opened.units
    from ..io.scaling import to_dtype
    from ..io.tiff_sink import write_tiff
    from ..io.zarr_sink import write_zarr

    if dst.suffix.lower() != ".zarr":
        for stage, done, total in write_tiff(
            rgb,
            dst,
            source=source,
            dtype=dtype,
            scale=scale,
            units=units,
            description=opened.description,
            attrs=attrs,
            resume=resume,
            reach=attrs["halo"],
        ):
            yield Progress(stage, done, total)
        return
    ome = dst.name.lower().endswith(".ome.zarr")
    samples = rgb.map_blocks(to_dtype, dtype, dtype=np.dtype(dtype))
    attrs = {**attrs, "dtype": dtype}
    for name, done, total in write_zarr(
        samples, dst, source=source, ome=ome, scale=scale, units=units, attrs=attrs, resume=resume,
        reach=attrs["halo"],
    ):  # fmt: skip
        yield Progress(f"chunk (level {name})", done, total)


def _digest(net: ColorModel) -> str:
    """SHA-256 of a model's weights, for models that did not come from a file."""
    import hashlib

    h = hashlib.sha256()
    for value in net.state_dict().values():
        h.update(value.detach().cpu().numpy().tobytes())
    return f"weights sha256:{h.hexdigest()}"
