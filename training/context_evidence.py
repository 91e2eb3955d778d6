"""Does the image-level context code help? The histology recipe with and without it.

Both arms run ``training/histology.toml`` (from ``general``, the same data, steps,
seed and losses); one with an 8-value ``context`` code, one without (as shipped). Both are
scored on the recipe's held-out halves (H&E slide, IHC), with the two-sample test
(three seeds).
The two stains are where one model has to keep two palettes apart.

Run (after ``bash training/fetch_data.sh``; each arm about 25 minutes on one core,
so run two at once with ``--arm``, then once more without it to score):

    python training/context_evidence.py --arm with --out-dir runs/
    python training/context_evidence.py --arm without --out-dir runs/
    python training/context_evidence.py --out-dir runs/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from napari_colorgan.train.evaluate import evaluate_model
from napari_colorgan.train.recipe import heldout_images, run_recipe
from napari_colorgan.train.trainer import TrainConfig

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "histology.toml"
ARMS = {"with": 8, "without": 0}  # the context code's size


def weights(out_dir: Path, arm: str) -> Path:
    return out_dir / f"histology_context_{arm}.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE / "logs")
    parser.add_argument("--arm", choices=tuple(ARMS), help="train this arm only")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for arm, context in ARMS.items():
        path = weights(args.out_dir, arm)
        if (args.arm in (None, arm)) and not path.exists():
            run_recipe(RECIPE, path, context=context)
    if args.arm:
        return
    config = TrainConfig.from_toml(RECIPE)
    heldout = heldout_images(config.heldout, HERE)
    results = {
        arm: evaluate_model(weights(args.out_dir, arm), heldout, two_sample=True) for arm in ARMS
    }
    (args.out_dir / "context_evidence.json").write_text(json.dumps(results, indent=1))
    print("| held-out part | context | ΔE2000 | colourfulness | a*b* hist. | two-sample acc. |")
    print("|---|---|---:|---:|---:|---:|")
    for image in heldout:
        for arm in ARMS:
            m = results[arm][image]["model"]
            print(
                f"| {image} | {arm} | {m['delta_e2000']:.2f} | {m['colorfulness_ratio']:.2f} "
                f"| {m['ab_hist_distance']:.2f} | {m['two_sample_accuracy']:.0%} |"
            )


if __name__ == "__main__":
    main()
