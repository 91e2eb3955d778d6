"""What each shipped model is and how well it does: the table ``colorgan models`` prints.

Everything comes from the weights files (architecture, parameter count, provenance and
the held-out metrics recorded when the model and its L1-only baseline were trained);
nothing is recomputed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# what each shipped model is for, in a few words (the README's "Models and weights")
DOMAINS = {
    "general": "scientific images of many kinds",
    "histology": "H&E and IHC slides",
    "astronomy": "Hubble-like fields",
    "guided": "general with hints, references, samples",
}
COLUMNS = ("model", "L1 U-Net", "gray", "mean chroma")
_PREFIXES = ("skimage:", "sklearn:", "video:")


def short_name(part: str) -> str:
    """A held-out image set as a person reads it: ``retina rows=0.5-1``, not its source path."""
    source, _, selection = part.partition(" ")
    for prefix in _PREFIXES:
        source = source.removeprefix(prefix)
    return f"{Path(source).name} {selection}".strip()


def generator_parameters(path: str | Path) -> int:
    """Parameters of the generator in a weights file (the discriminator left out)."""
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        return sum(
            math.prod(f.get_slice(key).get_shape())
            for key in f.keys()
            if key.startswith("generator.")
        )


def model_rows(
    name: str, path: Path, meta: dict, baseline: dict | None
) -> tuple[str, list[tuple[str, tuple[float | None, ...]]]]:
    """The model's heading, and per held-out image set its ΔE2000 and its baselines'."""
    prov = meta.get("provenance", {})
    size = prov.get("train_config", {}).get("size", "custom")
    heading = (
        f"{name} ({DOMAINS.get(name, 'a user model')}): {size}, "
        f"{generator_parameters(path) / 1e6:.2f} M parameters, "
        f"{path.stat().st_size / 1e6:.1f} MB, {prov.get('steps', '?')} steps"
    )
    if meta.get("generator", {}).get("linear_cameras"):
        heading += ", cameras read as light"
    l1 = (baseline or {}).get("provenance", {}).get("heldout_metrics", {})
    rows = []
    for part, m in prov.get("heldout_metrics", {}).items():
        others = prov.get("heldout_baselines", {}).get(part, {})
        values = (
            m.get("delta_e2000"),
            l1.get(part, {}).get("delta_e2000"),
            others.get("gray", {}).get("delta_e2000"),
            others.get("mean-chroma", {}).get("delta_e2000"),
        )
        rows.append((short_name(part), values))
    return heading, rows


def models_text() -> str:
    """Every shipped model with its held-out ΔE2000 beside its baselines, as a table."""
    from .registry import list_models, read_metadata, resolve, shipped_regression

    models = []
    for name in list_models():
        path = resolve(name)
        regression = shipped_regression(name)
        baseline = read_metadata(regression) if regression is not None else None
        models.append(model_rows(name, path, read_metadata(path), baseline))
    first = 2 + max([len(part) for _, rows in models for part, _ in rows] + [20])
    widths = [max(8, len(c) + 2) for c in COLUMNS]

    def line(label: str, cells: tuple[str, ...]) -> str:
        return f"{label:<{first}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths))

    lines = [
        "CIEDE2000 colour difference from the truth on images no recipe trained on "
        "(lower is better)",
        "",
        line("model / held-out image", COLUMNS),
    ]
    for heading, rows in models:
        lines.append(heading)
        lines += [
            line(f"  {part}", tuple("-" if v is None else f"{v:.2f}" for v in values))
            for part, values in rows
        ] or ["  no held-out metrics recorded"]
    lines += [
        "",
        "L1 U-Net: the same generator trained with the L1 loss alone (- : none shipped);",
        "gray: no colour (a* = b* = 0); mean chroma: the training data's mean a*, b*.",
    ]
    return "\n".join(lines)
