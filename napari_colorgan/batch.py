"""Colourising a folder or a glob of files into an output folder, one file at a time.

Finished outputs are skipped, unfinished ones resume (each sink's own rule), and a
file that fails is recorded and the batch goes on: :class:`BatchResult` says what
happened to every input.
"""

from __future__ import annotations

import glob
import logging
import os
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine.progress import Progress, drive

log = logging.getLogger(__name__)

GLOB_CHARS = frozenset("*?[")


@dataclass
class BatchResult:
    """What a batch did with each input.

    Attributes
    ----------
    written : list of Path
        Outputs made (or finished) by this run.
    skipped : list of Path
        Outputs already complete before the run.
    failed : list of (Path, str)
        Inputs that failed, with the error's type and message.
    """

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.failed

    def summary(self) -> str:
        """A few lines for a terminal: counts, then one line per failure."""
        lines = [
            f"{len(self.written)} written, {len(self.skipped)} already done, "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  FAILED {path}: {why}" for path, why in self.failed]
        return "\n".join(lines)


def batch_inputs(source: str | os.PathLike) -> list[Path]:
    """The input files of a folder or a glob pattern, sorted.

    A folder gives its files (and ``.zarr`` stores) that napari-colorgan reads,
    not recursively; hidden names (our own ``.partial`` files) are left out.

    Raises
    ------
    ValueError
        When ``source`` is neither a folder nor a pattern, or matches nothing.
    """
    from .io.readers import INPUT_SUFFIXES

    text = os.fspath(source)
    if Path(text).is_dir() and not text.rstrip("/").lower().endswith(".zarr"):
        candidates = Path(text).iterdir()
    elif GLOB_CHARS & set(text):
        candidates = (Path(p) for p in glob.glob(text))
    else:
        raise ValueError(f"expected a folder or a glob pattern such as 'slides/*.tif', got {text}")
    found = sorted(
        p for p in candidates if not p.name.startswith(".") and p.suffix.lower() in INPUT_SUFFIXES
    )
    if not found:
        raise ValueError(
            f"no readable images in {text} (inputs end in {', '.join(INPUT_SUFFIXES)})"
        )
    return found


def output_path(src: Path, out_dir: Path, suffix: str) -> Path:
    """``out_dir / <src name without its image suffixes><suffix>``: a.ome.tif -> a.ome.zarr."""
    name = src.name
    for ending in (".ome.tif", ".ome.tiff", ".ome.zarr", ".fits.fz"):
        if name.lower().endswith(ending):
            name = name[: -len(ending)]
            break
    else:
        name = src.stem
    return out_dir / f"{name}{suffix}"


def is_finished(path: Path) -> bool:
    """True for a complete output: a finished zarr store, or any other file that exists.

    Every writer but zarr renames a whole file into place, so a file that exists
    is complete.
    """
    from .io.zarr_sink import is_complete

    if path.suffix.lower() == ".zarr":
        return is_complete(path)
    return path.is_file()


def colorize_batch(
    source: str | os.PathLike | list,
    out_dir: str | os.PathLike,
    model: Any = None,
    *,
    suffix: str = ".ome.zarr",
    resume: bool = True,
    progress: bool = False,
    **options: Any,
) -> BatchResult:
    """Colourise every image of a folder or glob into ``out_dir``.

    Parameters
    ----------
    source : path-like, glob pattern, or list of paths
        A folder (its readable files, not recursive), a pattern such as
        ``"slides/*.tif"``, or the inputs themselves.
    out_dir : path-like
        The output folder, created with its parents when missing; each output is
        named after its input, with ``suffix``.
    model : str, path or model, optional
        As for :func:`~napari_colorgan.colorize` (default: general, or guided with
        guidance); loaded once for the batch.
    suffix : str, optional
        The output format of every file: ``.ome.zarr`` (default), ``.zarr``,
        ``.tif``, ``.ome.tif``, ``.png``, ``.mp4``...
    resume : bool, optional
        Skip outputs already complete and resume unfinished ones; False redoes all.
    progress : bool, optional
        One tqdm bar counting files.
    **options
        :func:`~napari_colorgan.colorize_to_file`'s other keywords.

    Returns
    -------
    BatchResult
        Written, skipped and failed files; ``result.ok`` is False if any failed.

    Raises
    ------
    ValueError
        Before any work, for a ``suffix`` that is no output format or cannot hold
        ``dtype``, or inputs that would write the same output.
    """
    from .io.writers import check_destination
    from .models.registry import as_model

    _check_suffix(suffix)
    inputs = [Path(p) for p in source] if isinstance(source, list) else batch_inputs(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # as the command line does
    probe = out_dir / f"output{suffix}"  # the format and dtype every output will have
    check_destination(probe, 3 if suffix.lower() == ".mp4" else 2, options.get("dtype") or "uint8")
    if model is not None:  # loaded once, not once per file
        model = as_model(model, options.get("device", "auto"))
    outputs = [output_path(src, out_dir, suffix) for src in inputs]
    clashes = sorted({o.name for o in outputs if outputs.count(o) > 1})
    if clashes:
        raise ValueError(f"several inputs would write the same output: {', '.join(clashes)}")
    _check_apart(inputs, outputs)
    settings = settings_digest(model, options)
    return drive(_each_file(inputs, outputs, model, resume, options, settings), progress)


def _check_apart(inputs: list[Path], outputs: list[Path]) -> None:
    """Refuse, before any work, a batch whose outputs would overwrite its inputs."""
    sources = {p.resolve(): p for p in inputs}
    own = [sources[o.resolve()] for o in outputs if o.resolve() in sources]
    if own:
        raise ValueError(
            f"{len(own)} output(s) would overwrite their own input ({own[0]}); write to "
            "another folder or choose another suffix"
        )


def settings_digest(model: Any, options: dict[str, Any]) -> str:
    """A digest of what makes an output's pixels: the model's weights and the options.

    Options that change only the speed (device, batch size, progress) are left out.
    """
    import hashlib
    import json

    import numpy as np

    from .io.ledger import fingerprint
    from .models.registry import weights_digest

    if model is None:  # the default follows the guidance options, as colorize_to_file
        from dataclasses import fields

        from .engine.pipeline import pick_model
        from .engine.settings import Guidance

        names = {f.name for f in fields(Guidance)}
        model = pick_model(None, Guidance(**{k: v for k, v in options.items() if k in names}))
    if isinstance(model, (str, os.PathLike)):
        from .models.registry import resolve

        weights = weights_digest(resolve(model))
    elif getattr(model, "source", None):
        weights = weights_digest(model.source)
    else:
        from .engine.pipeline import _digest

        weights = _digest(model)

    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return fingerprint(value)
        return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)

    kept = {k: plain(v) for k, v in options.items() if k not in _SPEED_ONLY}
    text = json.dumps({"model": weights, "options": kept}, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_SPEED_ONLY = ("device", "batch_size", "progress", "workers")


def _failure(src: Path, err: Exception) -> str:
    """One line for the summary; the traceback goes to the log (``--verbose``)."""
    from .diagnostics import USER_ERRORS

    if isinstance(err, USER_ERRORS):
        log.info("%s failed: %s", src, err)  # the result (and its summary) says it
        log.debug("traceback of %s", src, exc_info=err)
        return f"{type(err).__name__}: {err}"
    log.error("%s failed with an internal error", src, exc_info=err)
    return f"internal error {type(err).__name__}: {err} (a bug; its traceback is in the log)"


def _check_suffix(suffix: str) -> None:
    """Refuse an output format that no file of the batch could be written in."""
    from .io.writers import WRITE_SUFFIXES

    if not suffix.startswith(".") or Path(f"output{suffix}").suffix.lower() not in WRITE_SUFFIXES:
        choices = ", ".join((".ome.zarr", ".ome.tif", *WRITE_SUFFIXES))
        raise ValueError(f"suffix={suffix!r} is not an output format; use one of {choices}")


def _each_file(
    inputs: list[Path],
    outputs: list[Path],
    model: Any,
    resume: bool,
    options: dict[str, Any],
    settings: str = "",
) -> Generator[Progress, None, BatchResult]:
    """Colourise each input into its output, yielding files done; a failure is recorded.

    A file output is skipped only when its record (:mod:`.io.record`) says it was
    made from the same input bytes with the same ``settings``; otherwise it is
    made again. A zarr store checks its own fingerprints.
    """
    from .engine.pipeline import colorize_to_file
    from .io.record import input_digest, read_record, same_input, write_record

    result = BatchResult()
    for i, (src, dst) in enumerate(zip(inputs, outputs)):
        yield Progress("file", i, len(inputs))
        store = dst.suffix.lower() == ".zarr"
        finished = resume and is_finished(dst)
        if finished and not store and same_input(dst, src, settings):
            result.skipped.append(dst)
            continue
        finished = finished and store
        try:  # a finished zarr store is checked against its input's fingerprint first
            with warnings.catch_warnings(record=True) as caught:
                known = (read_record(dst) or {}).get("input")
                colorize_to_file(src, dst, model, resume=resume, **options)
                if not store:
                    digest = input_digest(src, known if isinstance(known, dict) else None)
                    write_record(dst, {"input": digest, "settings": settings})
        except Exception as err:  # one bad file must not stop the batch; it is reported
            result.failed.append((src, _failure(src, err)))
        else:
            (result.skipped if finished else result.written).append(dst)
        for w in caught:  # each warning once, naming the file it is about
            warnings.warn(f"{src.name}: {w.message}", w.category, stacklevel=2)
    yield Progress("file", len(inputs), len(inputs))
    return result
