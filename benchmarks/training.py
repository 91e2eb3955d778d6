"""Training step cost on the CPU: fp32 NCHW against bf16 autocast with channels_last.

    python benchmarks/training.py [--threads 2] [--repeat 5]

Batch 8 of 128 px patches cut from a real image (scikit-image's astronaut), L and ab
from the repo's own Lab conversion. Rows, for the ``lite`` and ``standard`` generators:
  G fwd+bwd   the generator forward, the repo's L1 on ab / AB_SCALE, backward
  GAN G step  as Trainer.train_step's generator half: G forward, the patch
              discriminator on fake and real, hinge adversarial + feature matching +
              chroma deficit + L1, backward through G and D
Then a check of what autocast does to the Lab conversions the losses use. Median of
--repeat timed runs after two warm-ups, rows interleaved round by round.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

from napari_colorgan.color import AB_SCALE, lab_to_rgb, rgb_to_lab
from napari_colorgan.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from napari_colorgan.models.generator import SIZES, Generator
from napari_colorgan.train import losses


def patches(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """L ``(B, 1, size, size)`` and ab ``(B, 2, size, size)`` of real crops."""
    import skimage.data

    rgb = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, rgb.shape[1] - size, (2, batch))
    crops = torch.stack([rgb[:, y : y + size, x : x + size] for y, x in zip(ys, xs)])
    lab = rgb_to_lab(crops)
    return lab[:, :1].contiguous(), lab[:, 1:].contiguous()


def make_step(size: str, bf16: bool, gan: bool, L: torch.Tensor, ab: torch.Tensor):
    torch.manual_seed(0)
    G = Generator(SIZES[size]).train()
    D = PatchDiscriminator(DiscriminatorConfig(in_channels=3)).train()
    if bf16:
        fmt = torch.channels_last
        G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
        L, ab = L.contiguous(memory_format=fmt), ab.contiguous(memory_format=fmt)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> float:
        G.zero_grad(set_to_none=True)
        D.zero_grad(set_to_none=True)
        with autocast:
            fake = G(L).float()
            loss = F.l1_loss(fake / AB_SCALE, ab / AB_SCALE)
            if gan:
                fake_feats = D(L, fake)
                with torch.no_grad():
                    real_feats = D(L, ab)
                loss = loss + 0.05 * losses.g_adv_loss(fake_feats[-1].float(), "hinge")
                loss = loss + losses.feature_matching(real_feats, fake_feats)
                loss = loss + losses.chroma_deficit(fake, ab)
        loss.backward()
        return float(loss.detach())

    return step


def lab_under_autocast(L: torch.Tensor, ab: torch.Tensor) -> str:
    """How far Lab -> sRGB -> Lab moves under bf16 autocast, against fp32."""
    lab = torch.cat((L, ab), 1)
    with torch.no_grad():
        rgb32 = lab_to_rgb(lab)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rgb16 = lab_to_rgb(lab)
            back16 = rgb_to_lab(rgb32)
    back32 = rgb_to_lab(rgb32)
    return (
        f"lab_to_rgb under autocast: dtype {rgb16.dtype}, max |ΔRGB| "
        f"{(rgb16.float() - rgb32).abs().max():.4f}; rgb_to_lab: dtype {back16.dtype}, "
        f"max |ΔLab| {(back16.float() - back32).abs().max():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    L, ab = patches(args.batch, args.patch)
    cells = [(s, g, b) for s in ("lite", "standard") for g in (False, True) for b in (False, True)]
    steps = {c: make_step(c[0], c[2], c[1], L, ab) for c in cells}
    losses_seen = {c: [steps[c]() for _ in range(2)] for c in cells}  # warm-up
    ms: dict[tuple, list[float]] = {c: [] for c in cells}
    for _ in range(args.repeat):
        for c in cells:
            start = time.perf_counter()
            losses_seen[c].append(steps[c]())
            ms[c].append(1000 * (time.perf_counter() - start))
    print(
        f"batch {args.batch} at {args.patch}², {args.threads} threads, torch {torch.__version__}, "
        f"CPU {torch.backends.cpu.get_cpu_capability()}, median of {args.repeat}"
    )
    print("| model | step | fp32 NCHW ms | bf16 + channels_last ms | speed-up | losses finite |")
    print("|---|---|---:|---:|---:|---|")
    for size in ("lite", "standard"):
        for gan in (False, True):
            full = statistics.median(ms[(size, gan, False)])
            half = statistics.median(ms[(size, gan, True)])
            finite = all(np.isfinite(losses_seen[(size, gan, b)]).all() for b in (False, True))
            name = "GAN G step" if gan else "G fwd+bwd"
            print(f"| {size} | {name} | {full:.0f} | {half:.0f} | {full / half:.2f} | {finite} |")
    print(lab_under_autocast(L, ab))


if __name__ == "__main__":
    main()
