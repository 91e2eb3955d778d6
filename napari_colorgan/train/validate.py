"""A training recipe checked where it is read: every key typed and range-checked.

A recipe is read before any data are opened or any step is run, so a wrong
value costs one line naming the file, the key and what it may be, not a
traceback (or a ``ZeroDivisionError``) minutes into a run. Unknown keys are
refused, in ``[train]``, ``[train.augment]`` and each ``[[data]]``/``[[heldout]]``
entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

# what a [[data]] / [[heldout]] entry may hold (see train/sources.py)
ENTRY_KEYS = ("source", "rows", "cols", "frames", "every", "weight", "input", "name")


class RecipeError(ValueError):
    """A recipe value that cannot be trained with; the message names file and key."""


def _integer(low: int, high: int | None = None) -> tuple[Callable[[Any], bool], str]:
    text = f"an integer of at least {low}" if high is None else f"an integer in {low}..{high}"
    ok = lambda v: type(v) is int and v >= low and (high is None or v <= high)  # noqa: E731
    return ok, text


def _number(low: float, *, above: bool = False, below: float | None = None) -> tuple:
    text = f"a number {'above' if above else 'of at least'} {low:g}"
    if below is not None:
        text += f" and below {below:g}"

    def ok(v: Any) -> bool:
        if type(v) not in (int, float) or not math.isfinite(v):
            return False
        return (v > low if above else v >= low) and (below is None or v < below)

    return ok, text


def _choice(*choices: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


def _boolean() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: type(v) is bool), "true or false"


def _text() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, str)), "a string"


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_SCHEME = re.compile(r"[a-z]{2,}:")  # skimage:, sklearn:, video: (not a drive letter)
_GLOB = frozenset("*?[")


def _rules() -> dict[str, tuple[Callable[[Any], bool], str]]:
    from ..engine.precision import PRECISIONS
    from ..models.generator import SIZES
    from .losses import GANS

    non_negative = _number(0)
    return {
        "size": _choice(*SIZES),
        "mode": _choice("colorize", "translate"),
        "guided": _boolean(),
        "context": _integer(0, 256),
        "match": _boolean(),
        "linear_cameras": _boolean(),
        "base": _text(),
        "steps": _integer(1),
        "warmup": _integer(0),
        "batch": _integer(1),
        "patch": _integer(16, 4096),
        "lr_g": _number(0, above=True),
        "lr_d": _number(0, above=True),
        "freeze_encoder": _integer(0),
        "unfrozen_lr_scale": _number(0, above=True),
        "gan": _choice(*GANS),
        "recon": _choice("l1", "l2"),
        **{k: non_negative for k in ("l1", "adv", "fm", "r1", "gp", "chroma", "hint", "clip")},
        "r1_every": _integer(1),
        "perceptual": _text(),
        "perceptual_weight": non_negative,
        "ema": _number(0, below=1),
        "seed": _integer(0),
        "threads": _integer(0),
        "device": ((lambda v: isinstance(v, str) and bool(_DEVICE.fullmatch(v))),
                   "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),  # fmt: skip
        "precision": _choice(*PRECISIONS),
        "log_every": _integer(1),
        "checkpoint_every": _integer(1),
        "sample_every": _integer(0),
        "tensorboard": _boolean(),
        "augment": ((lambda v: isinstance(v, dict)), "a table of augmentations"),
        "min_foreground": _number(0, below=1),
        "workers": _integer(0, 64),
        "data": ((lambda v: isinstance(v, list)), "[[data]] entries"),
        "heldout": ((lambda v: isinstance(v, list)), "[[heldout]] entries"),
    }


def _augment_rules() -> dict[str, tuple[Callable[[Any], bool], str]]:
    bits_ok = lambda v: type(v) is int and (v == 0 or 6 <= v <= 16)  # noqa: E731
    return {
        "gamma": _number(1),
        "blur": _number(0),
        "noise": _number(0, below=1),
        "bits": (bits_ok, "0 (off) or an integer in 6..16"),
        "formations": _number(0, below=1.000001),
    }


def check_settings(settings: dict[str, Any], where: str | Path, known: list[str]) -> None:
    """Refuse an unknown key or a value of the wrong type or range.

    Parameters
    ----------
    settings : dict
        The ``[train]`` keys (and the data tables), as read from TOML or given as
        overrides.
    where : str or path
        What the message names (the recipe file).
    known : list of str
        Every setting of :class:`~.trainer.TrainConfig`; a key another helper
        added there without a rule here is checked for its type only.

    Raises
    ------
    RecipeError
        One line: ``<file>: <key> must be <allowed>, got <value>``.
    """
    rules = _rules()
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise RecipeError(
            f"{where}: unknown setting {unknown[0]!r}; the settings are {', '.join(known)}"
        )
    for key, value in settings.items():
        ok, allowed = rules.get(key, ((lambda v: True), ""))
        if not ok(value):
            raise RecipeError(f"{where}: {key} must be {allowed}, got {value!r}")
    augment = settings.get("augment") or {}
    augment_rules = _augment_rules()
    for key, value in augment.items():
        if key not in augment_rules:
            raise RecipeError(
                f"{where}: unknown augment option {key!r}; the options are "
                f"{', '.join(augment_rules)}"
            )
        ok, allowed = augment_rules[key]
        if not ok(value):
            raise RecipeError(f"{where}: augment.{key} must be {allowed}, got {value!r}")
    for table in ("data", "heldout"):
        for number, entry in enumerate(settings.get(table) or [], 1):
            _check_entry(entry, f"{where}: [[{table}]] entry {number}")


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
        raise RecipeError(
            f"{where} needs a source (an image file, skimage:NAME or video:PATH), got {entry!r}"
        )
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise RecipeError(
            f"{where}: unknown key {unknown[0]!r}; an entry holds {', '.join(ENTRY_KEYS)}"
        )
    for key in ("rows", "cols", "frames"):
        if key in entry and not _window(entry[key]):
            raise RecipeError(
                f"{where}: {key} must be [start, stop] with 0 <= start < stop <= 1, "
                f"got {entry[key]!r}"
            )
    if "every" in entry and not _integer(1)[0](entry["every"]):
        raise RecipeError(f"{where}: every must be an integer of at least 1, got {entry['every']}")
    if "weight" in entry and not _number(0, above=True)[0](entry["weight"]):
        raise RecipeError(f"{where}: weight must be a number above 0, got {entry['weight']!r}")
    if "input" in entry and not isinstance(entry["input"], str):
        raise RecipeError(f"{where}: input must be a path, got {entry['input']!r}")
    source = entry["source"]
    if source.startswith("skimage:"):
        _check_skimage(source[len("skimage:") :], where)


def _window(value: Any) -> bool:
    if not isinstance(value, list) or len(value) != 2:
        return False
    if not all(type(v) in (int, float) and math.isfinite(v) for v in value):
        return False
    return 0 <= value[0] < value[1] <= 1


def _check_skimage(name: str, where: str) -> None:
    import skimage.data

    skip = ("download_all", "file_hash", "lbp_frontal_face_cascade_filename")
    names = [n for n in skimage.data.__all__ if n not in skip]
    names = [n for n in names if callable(getattr(skimage.data, n, None))]
    if name not in names:
        close = [n for n in names if n[:3] == name[:3]] or names[:8]
        raise RecipeError(
            f"{where}: skimage:{name} is not one of scikit-image's images; e.g. "
            + ", ".join(f"skimage:{n}" for n in close)
        )


def check_data_files(settings: dict[str, Any], here: Path, where: str | Path) -> None:
    """Refuse a ``[[data]]`` or ``[[heldout]]`` file that does not exist, before training."""
    for table in ("data", "heldout"):
        for number, entry in enumerate(settings.get(table) or [], 1):
            for key in ("source", "input"):
                text = entry.get(key)
                if not isinstance(text, str) or _SCHEME.match(text) or _GLOB & set(text):
                    continue  # skimage:, sklearn:, video: and patterns are checked as they open
                if not (Path(text) if Path(text).is_absolute() else here / text).exists():
                    raise RecipeError(
                        f"{where}: [[{table}]] entry {number}: {key} {text} does not exist "
                        f"(paths are relative to the recipe's folder, {here})"
                    )


def check_base(base: Any, here: Path, where: str | Path) -> None:
    """Refuse a ``base`` that is neither a shipped model nor an existing weights file."""
    from ..models.registry import list_models

    if not base or not isinstance(base, str) or base in list_models():
        return
    path = Path(base) if Path(base).is_absolute() else here / base
    if base.endswith(".safetensors") and (path.is_file() or Path(base).is_file()):
        return
    raise RecipeError(
        f"{where}: base {base!r} is neither a shipped model ({', '.join(list_models())}) "
        "nor an existing .safetensors file"
    )


def field_names(config_class: type) -> list[str]:
    """The settings of a config dataclass, in order."""
    return [f.name for f in fields(config_class)]
