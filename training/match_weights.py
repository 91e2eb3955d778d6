"""Make trained weights a matched model: add the reference lightness of a recipe's images.

A matched model (:mod:`napari_colorgan.matching`) reads every input's lightness
matched onto the quantiles of its training data, so its colour does not depend on
how the gray was made. For a model whose training images all share one lightness
distribution (the astronomy model's Hubble field), the weights trained on exact L*
need no retraining: matching maps any tone curve of such an image back onto
nearly the lightness they were trained on (docs/evaluation.md, "Matching").

Run from the repository root, e.g. on the stage-1 astronomy weights:

    colorgan train training/astronomy.toml --out stage1.safetensors
    python training/match_weights.py training/astronomy.toml --base stage1.safetensors \
        --out napari_colorgan/weights/astronomy.safetensors
"""

import argparse
from pathlib import Path

import napari_colorgan as ncg
from napari_colorgan.models.generator import with_matching
from napari_colorgan.models.registry import load_discriminator, save_weights
from napari_colorgan.train.data import PatchSampler
from napari_colorgan.train.evaluate import evaluate_model, format_table
from napari_colorgan.train.recipe import heldout_images, read_recipe
from napari_colorgan.train.sources import open_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path, help="the recipe whose [[data]] the weights learnt")
    parser.add_argument("--base", required=True, help="trained weights (name or file)")
    parser.add_argument("--out", required=True, type=Path, help="the matched weights to write")
    args = parser.parse_args()
    config = read_recipe(args.recipe, {})
    images, weights = open_images(config.data, args.recipe.parent)
    sampler = PatchSampler(images, config.patch, weights=weights)
    net = ncg.load_model(args.base, "cpu")
    matched = with_matching(net, sampler.reference_quantiles())
    # held-out metrics of the matched model, as a training run records its own
    heldout = heldout_images(config.heldout, args.recipe.parent)
    results = evaluate_model(matched.eval(), heldout, mean_ab=net.provenance.get("mean_ab"))
    print(format_table(results))
    matched.provenance = {
        **net.provenance,
        "matched": {"reference": str(args.recipe), "base": Path(str(args.base)).name},
        "heldout_metrics": {k: v["model"] for k, v in results.items()},
        "heldout_baselines": {k: {m: v[m] for m in v if m != "model"} for k, v in results.items()},
    }
    discriminator = load_discriminator(args.base)  # kept for later fine-tuning
    save_weights(args.out, matched, discriminator=discriminator, provenance=matched.provenance)
    print(f"wrote {args.out}: {args.base} matched onto the lightness of {args.recipe}'s images")


if __name__ == "__main__":
    main()
