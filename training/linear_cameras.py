"""Mark trained weights as reading a stretched gray (a camera's counts) as linear light.

``GeneratorConfig.linear_cameras`` changes how ``normalize="auto"`` reads a gray it
has to stretch (integers wider than 8 bits, floats outside [0, 1]): as
``normalize="linear"`` reads it, the 0.1 % percentile black, the 99.9 % white and the
rest lightness as the eye sees it. The network is not changed, so weights need no
retraining; a recipe with ``linear_cameras = true`` gives the same mark. Measured for
``histology`` (brightfield: a white background) in docs/evaluation.md; not for domains
whose brightest pixel is not white (fluorescence, fundus, most of a sky).

Run from the repository root, e.g. on the shipped histology weights and their baseline:

    python training/linear_cameras.py napari_colorgan/weights/histology.safetensors \
        napari_colorgan/weights/baselines/histology_l1.safetensors
"""

import argparse
import dataclasses
from pathlib import Path

from napari_colorgan.models.registry import load_discriminator, load_generator, save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", type=Path, help="weights files, marked in place")
    for path in parser.parse_args().weights:
        generator, meta = load_generator(path)
        generator.arch = dataclasses.replace(generator.arch, linear_cameras=True)
        provenance = {**meta.get("provenance", {}), "linear_cameras": "training/linear_cameras.py"}
        discriminator = load_discriminator(path)  # kept for later fine-tuning
        save_weights(path, generator, discriminator=discriminator, provenance=provenance)
        print(f"marked {path}: a stretched gray is read as linear light")


if __name__ == "__main__":
    main()
