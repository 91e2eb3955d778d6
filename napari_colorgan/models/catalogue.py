"""What each shipped model is and how well it does: the text of ``colorgan models``.

Everything comes from the weights files' metadata (architecture, provenance and the
held-out metrics recorded when the model was trained); nothing is recomputed.
"""

from __future__ import annotations

from typing import Any


def model_lines(name: str, meta: dict[str, Any]) -> list[str]:
    """One line for the model, then one per held-out image set with its metrics.

    The gray baseline's CIEDE2000 (the input itself, no colour) is shown beside the
    model's, so a number reads as better or worse than doing nothing.
    """
    arch, prov = meta["generator"], meta.get("provenance", {})
    data = ", ".join(prov.get("data", [])) or "unknown data"
    guided = " guided" if arch.get("guided") else ""
    lines = [
        f"{name:<12} {arch['mode']}{guided}, widths {arch['widths']}, "
        f"{prov.get('steps', '?')} steps; trained on {data}"
    ]
    baselines = prov.get("heldout_baselines", {})
    for part, m in prov.get("heldout_metrics", {}).items():
        gray = baselines.get(part, {}).get("gray", {}).get("delta_e2000")
        versus = f" (gray {gray:.2f})" if gray is not None else ""
        lines.append(
            f"    held out: {part}: dE2000 {m['delta_e2000']:.2f}{versus}, "
            f"PSNR {m['psnr']:.1f} dB, SSIM {m['ssim']:.3f}, "
            f"colourfulness {m.get('colorfulness_ratio', float('nan')):.2f} of the truth"
        )
    if len(lines) == 1:
        lines.append("    held out: no metrics recorded")
    return lines


def models_text() -> str:
    """Every shipped model with its held-out metrics, as ``colorgan models`` prints it."""
    from .registry import list_models, read_metadata, resolve

    return "\n".join(
        line for name in list_models() for line in model_lines(name, read_metadata(resolve(name)))
    )
