"""GAN training loop: L1 warm-up, hinge/LSGAN with R1, feature matching, EMA generator."""

from __future__ import annotations

import copy
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..models.discriminator import DiscriminatorConfig, PatchDiscriminator
from ..models.generator import SIZES, Generator, GeneratorConfig
from ..models.registry import save_weights
from . import losses
from .data import Augment, PatchSampler, load_source


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good weights were kept."""


@dataclass
class TrainConfig:
    """Every setting of a training run; recorded in the weights' metadata.

    Loss weights follow pix2pix (L1 on ab / 110 with weight 100 against an
    adversarial weight of 1) and pix2pixHD (discriminator feature matching).
    """

    size: str = "lite"
    mode: str = "colorize"
    steps: int = 4000
    warmup: int = 1000
    batch: int = 16
    patch: int = 128
    lr_g: float = 2e-4
    lr_d: float = 4e-4
    gan: str = "hinge"
    l1: float = 100.0
    adv: float = 1.0
    fm: float = 2.0
    r1: float = 0.2
    r1_every: int = 4
    ema: float = 0.999
    clip: float = 1.0
    seed: int = 0
    threads: int = 0
    log_every: int = 50
    augment: dict = field(default_factory=dict)
    data: list = field(default_factory=list)
    heldout: list = field(default_factory=list)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read a config file; unknown keys are an error naming them."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        flat = {**raw.pop("train", {}), **raw}
        unknown = set(flat) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        return cls(**flat)


def load_images(specs: list[dict], base: Path | None = None) -> list[np.ndarray]:
    """Load the ``[[data]]`` or ``[[heldout]]`` entries of a config."""
    return [
        load_source(s["source"], rows=s.get("rows", (0, 1)), cols=s.get("cols", (0, 1)), base=base)
        for s in specs
    ]


class Trainer:
    """Train a generator (from scratch or from ``generator``) against a PatchGAN.

    Parameters
    ----------
    config : TrainConfig
    images : list of ndarray
        Colour training images, float RGB in [0, 1].
    generator, discriminator : optional
        Start from these (transfer learning) instead of a fresh initialisation.
    """

    def __init__(self, config: TrainConfig, images, generator=None, discriminator=None):
        self.config = c = config
        torch.manual_seed(c.seed)
        if c.threads:
            torch.set_num_threads(c.threads)
        arch = GeneratorConfig.from_dict({**SIZES[c.size].to_dict(), "mode": c.mode})
        self.G = generator if generator is not None else Generator(arch)
        d_in = 3 if self.G.mode == "colorize" else 4
        self.D = discriminator or PatchDiscriminator(DiscriminatorConfig(in_channels=d_in))
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(0.5, 0.999))
        self.sampler = PatchSampler(images, c.patch, c.seed, Augment(**c.augment))
        self.step = 0

    def _target(self, L, ab):
        if self.G.mode == "colorize":
            return ab
        from ..color import lab_to_rgb

        return lab_to_rgb(torch.cat((L, ab), 1)).clamp(0, 1)

    def train_step(self) -> dict[str, float]:
        """One optimisation step of D (after warm-up) and G; returns the losses."""
        c = self.config
        L_in, L, ab = self.sampler.sample(c.batch)
        target = self._target(L, ab)
        scale = 1 / 110 if self.G.mode == "colorize" else 1.0
        fake = self.G(L_in)
        logs = {}
        adversarial = self.step >= c.warmup
        if adversarial:
            real_in = target.detach().requires_grad_(self.step % c.r1_every == 0)
            real_feats = self.D(L, real_in)
            loss_d = losses.d_loss(real_feats[-1], self.D(L, fake.detach())[-1], c.gan)
            if real_in.requires_grad and c.r1:
                loss_d = loss_d + c.r1 * c.r1_every / 2 * losses.r1_penalty(real_feats[-1], real_in)
            self._update(self.opt_d, self.D, loss_d)
            logs["d"] = loss_d.item()
        loss_l1 = F.l1_loss(fake * scale, target * scale)
        loss_g = c.l1 * loss_l1
        if adversarial:
            fake_feats = self.D(L, fake)
            with torch.no_grad():
                real_feats = self.D(L, target)
            loss_adv = losses.g_adv_loss(fake_feats[-1], c.gan)
            loss_fm = losses.feature_matching(real_feats, fake_feats)
            loss_g = loss_g + c.adv * loss_adv + c.fm * loss_fm
            logs.update(adv=loss_adv.item(), fm=loss_fm.item())
        self._update(self.opt_g, self.G, loss_g)
        logs.update(l1=loss_l1.item(), g=loss_g.item())
        self._update_ema()
        self.step += 1
        return logs

    def _update(self, opt, module, loss) -> None:
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at step {self.step}; lower the learning rates "
                "or the adversarial weight. The last saved weights are untouched."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.clip)
        opt.step()

    @torch.no_grad()
    def _update_ema(self) -> None:
        # a short horizon while the generator is young, then the configured decay
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
            e.lerp_(p, 1 - decay)

    def fit(self, log_path: str | Path | None = None, progress: bool = True) -> None:
        """Train until ``config.steps``, logging losses to CSV every ``log_every`` steps."""
        from tqdm.auto import tqdm

        writer, f = None, None
        if log_path:
            f = open(log_path, "a", newline="")
        start = time.perf_counter()
        try:
            bar = tqdm(total=self.config.steps, initial=self.step, disable=not progress)
            while self.step < self.config.steps:
                logs = self.train_step()
                bar.update(1)
                if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()})
                    if f:
                        row = {"step": self.step, "seconds": round(time.perf_counter() - start, 1)}
                        row.update(
                            {k: logs.get(k, math.nan) for k in ("l1", "g", "d", "adv", "fm")}
                        )
                        if writer is None:
                            writer = csv.DictWriter(f, fieldnames=list(row))
                            if f.tell() == 0:
                                writer.writeheader()
                        writer.writerow(row)
                        f.flush()
            bar.close()
        finally:
            if f:
                f.close()

    def save(self, path: str | Path, provenance: dict | None = None) -> Path:
        """Write the EMA generator and the discriminator, with the config as provenance."""
        record = {"train_config": asdict(self.config), "steps": self.step, "seed": self.config.seed}
        record.update(provenance or {})
        self.G_ema.provenance = json.loads(json.dumps(record))
        return save_weights(path, self.G_ema, discriminator=self.D, provenance=record)
