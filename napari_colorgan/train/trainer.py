"""GAN training loop: L1 warm-up, hinge/LSGAN/WGAN-GP, feature matching, EMA generator.

Checkpoints hold everything a run depends on (weights, optimiser moments, random
streams, step, precision), so a resumed run continues bit for bit on CPU. Under
``torchrun`` the processes split each batch and average their gradients. The
networks run under bf16 autocast in channels_last on CPUs that compute bf16
natively and on CUDA (``precision="auto"``); the Lab conversions stay float32.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..color import AB_SCALE, rgb_to_lab
from ..engine.context import block_view
from ..engine.precision import Precision, resolve_precision
from ..guide import lightness_signature
from ..models.discriminator import DiscriminatorConfig, PatchDiscriminator
from ..models.generator import (
    SIZES,
    Generator,
    GeneratorConfig,
    with_context,
    with_guidance,
    with_matching,
)
from ..models.registry import load_discriminator, load_generator, pick_device, save_weights
from . import losses
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import Augment, Batch, PatchSampler
from .hints import codes_from, random_hints
from .loader import batches
from .logs import TrainLog, TrainStep
from .sources import load_images, open_images  # noqa: F401  (imported from here by recipes)
from .sources import read_as_light

ENCODER = ("stem", "encoders", "downs", "bottleneck")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last checkpoint was kept."""


def build_networks(
    config: TrainConfig, generator: Generator | None = None, discriminator=None
) -> tuple[Generator, PatchDiscriminator | None]:
    """The generator and discriminator a run starts from.

    ``generator`` (and ``discriminator``) when given, else ``config.base``'s (its
    stored discriminator when the run is adversarial), else fresh ones of
    ``config.size`` and ``config.mode``; guidance and a context code are added when
    asked for and missing. No discriminator when ``adv = fm = 0``.
    """
    c = config
    adversarial = c.adv > 0 or c.fm > 0
    if generator is None and c.base:
        generator = load_generator(c.base)[0]
        discriminator = load_discriminator(c.base) if adversarial else None
    if generator is None:
        arch = {**SIZES[c.size].to_dict(), "mode": c.mode, "guided": c.guided}
        generator = Generator(GeneratorConfig.from_dict({**arch, "context": c.context}))
    if c.guided and not generator.arch.guided:
        generator = with_guidance(generator)
    if c.context and not generator.arch.context:
        generator = with_context(generator, c.context)
    if c.linear_cameras:  # a reading, not a layer: the weights stay as they are
        generator.arch = replace(generator.arch, linear_cameras=True)
    if not adversarial:
        return generator, None
    d_in = 3 if generator.mode == "colorize" else 4
    return generator, discriminator or PatchDiscriminator(DiscriminatorConfig(in_channels=d_in))


def set_encoder_trainable(generator: Generator, trainable: bool) -> None:
    """Freeze or unfreeze the generator's encoder (stem, encoder stages, bottleneck)."""
    for name in ENCODER:
        getattr(generator, name).requires_grad_(trainable)


def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """Train a generator (from scratch, from ``generator`` or from ``config.base``).

    Parameters
    ----------
    config : TrainConfig
    images : list of ndarray, Source or Pair
        Colour training images (float RGB in [0, 1], or integer), or sources read by
        regions and real pairs (:func:`open_images`).
    weights : list of float, optional
        Sampling weight per image (default: square root of its area).
    generator, discriminator : optional
        Start from these instead of ``config.base`` or a fresh initialisation.
    """

    def __init__(
        self, config: TrainConfig, images, weights=None, generator=None, discriminator=None
    ):
        self.config = c = config
        torch.manual_seed(c.seed)
        if c.threads:
            torch.set_num_threads(c.threads)
        self.device = pick_device(c.device)
        self.rank, self.world = _world()
        if c.batch % self.world:
            raise ValueError(f"batch {c.batch} does not split over {self.world} processes")
        self.adversarial = c.adv > 0 or c.fm > 0
        G, D = build_networks(c, generator, discriminator)
        self.G = G.to(self.device).train()
        self.D = None if D is None else D.to(self.device).train()
        self.opt_d = None
        if self.D is not None:
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(0.5, 0.999))
        if self.G.arch.linear_cameras:  # a real pair's gray as the model will read it
            images = [read_as_light(image) for image in images]
        views = bool(self.G.arch.context)
        augment = Augment(**c.augment)
        self.sampler = PatchSampler(
            images, c.patch, c.seed, augment, weights, views, min_foreground=c.min_foreground
        )
        if c.match and not self.G.arch.matched:
            reference = self.sampler.reference_quantiles()
            self.G = with_matching(self.G, reference).to(self.device).train()
        if self.G.arch.matched:
            self.sampler.reference = self.G.reference.cpu().double().numpy()
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(0.5, 0.999))
        self._batches: Iterator[Batch] | None = None
        self.rng = torch.Generator().manual_seed(c.seed + 1)  # WGAN-GP mixing weights
        self.vgg = (
            losses.VGGFeatures.from_file(c.perceptual).to(self.device) if c.perceptual else None
        )
        self.precision = training_precision(c.precision, self.device)
        if self.precision.reduced:  # the layout oneDNN and cuDNN run fastest under autocast
            for module in (self.G, self.G_ema, self.D, self.vgg):
                if module is not None:
                    module.to(memory_format=torch.channels_last)
        self.step = 0
        self.checkpoint: Path | None = None
        set_encoder_trainable(self.G, c.freeze_encoder <= 0)

    @functools.cached_property
    def mean_ab(self) -> list[float]:
        """The training data's mean chroma (a, b), each image weighted as it is sampled.

        Computed when first asked for (evaluation, saving), not before training starts.
        """
        from ..color import rgb_to_lab

        means = []
        for source in self.sampler.sources:
            view, _ = source.overview()  # the whole of a small image
            means.append(rgb_to_lab(torch.from_numpy(view).permute(2, 0, 1))[1:].mean((1, 2)))
        mean = (torch.stack(means).double() * self.sampler.weights[:, None]).sum(0)
        return [round(float(v), 4) for v in mean]

    # -- one step ---------------------------------------------------------------------------

    def _full(self) -> contextlib.AbstractContextManager:
        """Autocast off: the Lab conversions lose up to 3/255 in bf16 (docs/benchmarks.md)."""
        return torch.autocast(self.device.type, enabled=False)

    def _target(self, L, ab):
        if self.G.mode == "colorize":
            return ab
        from ..color import lab_to_rgb

        with self._full():
            return lab_to_rgb(torch.cat((L, ab), 1).float()).clamp(0, 1)

    def _as_ab(self, L, out):
        if self.G.mode == "colorize":
            return out
        from ..color import rgb_to_lab

        with self._full():
            return rgb_to_lab(out.float().clamp(0, 1))[:, 1:]

    def _as_rgb(self, L, out):
        if self.G.mode != "colorize":
            return out
        from ..color import lab_to_rgb

        with self._full():
            return lab_to_rgb(torch.cat((L, out), 1).float()).clamp(0, 1)

    def train_step(self) -> dict[str, float]:
        """One optimisation step of D (after warm-up) and G; returns the losses."""
        c = self.config
        if c.freeze_encoder > 0 and self.step == c.freeze_encoder:
            set_encoder_trainable(self.G, True)
            for group in self.opt_g.param_groups:
                group["lr"] = c.lr_g * c.unfrozen_lr_scale
        guided = self.G.arch.guided
        if self._batches is not None:
            batch = next(self._batches)
        else:
            batch = self.sampler.batch(self.step, c.batch, self._part(), guided)
        L_in, L, ab, cond = (
            t.to(self.device, non_blocking=True)
            for t in (batch.inputs, batch.L, batch.ab, batch.cond)
        )
        code = context = None
        if guided:
            hints = random_hints(ab, c.batch, self._part(), self.rng)
            code = codes_from(batch.references, c.batch, self._part(), self.rng).to(self.device)
            L_in = torch.cat([L_in, hints], 1)
        if self.precision.reduced:
            L_in = L_in.contiguous(memory_format=torch.channels_last)
        target = self._target(L, ab)
        scale = 1 / AB_SCALE if self.G.mode == "colorize" else 1.0
        autocast = self.precision.autocast
        with autocast():
            if self.G.arch.context:
                context = self._image_codes(self.G, batch.views)
            fake = self.G(L_in, code, context).float()
        logs = {}
        adversarial = self.D is not None and self.step >= c.warmup
        if adversarial:
            eps = torch.rand(c.batch, 1, 1, 1, generator=self.rng)[self._part()].to(self.device)
            with autocast():
                loss_d = self._d_loss(cond, target, fake, eps)
            self._update(self.opt_d, self.D, loss_d)
            logs["d"] = loss_d
        with autocast():
            recon = F.l1_loss if c.recon == "l1" else F.mse_loss
            loss_l1 = recon(fake * scale, target * scale)
            loss_g = c.l1 * loss_l1
            if adversarial:
                fake_feats = self.D(cond, fake)
                with torch.no_grad():
                    real_feats = self.D(cond, target)
                loss_adv = losses.g_adv_loss(fake_feats[-1].float(), c.gan)
                loss_fm = losses.feature_matching(real_feats, fake_feats)
                loss_g = loss_g + c.adv * loss_adv + c.fm * loss_fm
                logs.update(adv=loss_adv, fm=loss_fm)
            if guided and c.hint:
                loss_hint = losses.hint_fidelity(self._as_ab(L, fake), ab, hints[:, 2:])
                loss_g = loss_g + c.hint * loss_hint
                logs["hint"] = loss_hint
            if c.chroma:
                loss_chroma = losses.chroma_deficit(self._as_ab(L, fake), ab)
                loss_g = loss_g + c.chroma * loss_chroma
                logs["chroma"] = loss_chroma
            if self.vgg is not None:
                loss_vgg = losses.perceptual(
                    self.vgg, self._as_rgb(cond, fake), self._as_rgb(cond, target)
                )
                loss_g = loss_g + c.perceptual_weight * loss_vgg
                logs["perceptual"] = loss_vgg
        self._update(self.opt_g, self.G, loss_g)
        logs.update(l1=loss_l1, g=loss_g)
        if c.min_foreground:  # the share of tissue the masks let through
            logs["foreground"] = torch.tensor(np.mean(batch.foreground))
        self._update_ema()
        self.step += 1
        return self._reduce(logs)

    def _image_codes(self, generator: Generator, views: list[torch.Tensor]) -> torch.Tensor:
        """Each patch's context code, from its own view (views differ in size)."""
        return torch.cat([generator.image_code(v.to(self.device)) for v in views])

    def _part(self) -> slice:
        b = self.config.batch
        return slice(self.rank * b // self.world, (self.rank + 1) * b // self.world)

    def _d_loss(self, cond, target, fake, eps):
        c = self.config
        r1 = c.gan != "wgan-gp" and c.r1 and self.step % c.r1_every == 0
        real_in = target.detach().requires_grad_(bool(r1))
        real_feats = self.D(cond, real_in)
        fake_out = self.D(cond, fake.detach())[-1].float()
        loss = losses.d_loss(real_feats[-1].float(), fake_out, c.gan)
        if r1:
            loss = loss + c.r1 * c.r1_every / 2 * losses.r1_penalty(real_feats[-1], real_in)
        if c.gan == "wgan-gp":
            loss = loss + c.gp * losses.gradient_penalty(self.D, cond, target, fake, eps)
        return loss

    def _reduce(self, logs: dict[str, torch.Tensor]) -> dict[str, float]:
        values = torch.stack([v.detach().float() for v in logs.values()])
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(values)
            values /= self.world
        return dict(zip(logs, values.tolist()))

    def _update(self, opt, module, loss) -> None:
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at step {self.step}; lower the learning rates "
                "or the adversarial weight."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            _average_gradients(module, self.world)
        if self.config.clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.config.clip)
        opt.step()

    @torch.no_grad()
    def _update_ema(self) -> None:
        # a short horizon while the generator is young, then the configured decay
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
            e.lerp_(p, 1 - decay)

    # -- the loop ---------------------------------------------------------------------------

    def iter_fit(
        self,
        log_path: str | Path | None = None,
        checkpoint: str | Path | None = None,
        sample_dir: str | Path | None = None,
    ) -> Iterator[TrainStep]:
        """Train until ``config.steps``, yielding a :class:`~.logs.TrainStep` after every step.

        Losses go to CSV (and TensorBoard when configured) every ``log_every``
        steps, a checkpoint to ``checkpoint`` every ``checkpoint_every`` steps and
        at the end, sample grids to ``sample_dir`` every ``sample_every`` steps.
        Only the first process of a data-parallel run writes files.
        """
        c, main = self.config, self.rank == 0
        log = TrainLog(log_path, c.tensorboard) if log_path and main else None
        self.checkpoint = Path(checkpoint) if checkpoint else None
        start = time.perf_counter()
        self._batches = batches(
            self.sampler,
            range(self.step, c.steps),
            c.batch,
            self._part(),
            references=self.G.arch.guided,
            workers=c.workers,
            pin=self.device.type == "cuda",
        )
        try:
            while self.step < c.steps:
                try:
                    logs = self.train_step()
                except TrainingDiverged as err:
                    kept = (
                        f" The last checkpoint, {self.checkpoint}, is kept."
                        if self.checkpoint
                        else ""
                    )
                    raise TrainingDiverged(f"{err}{kept}") from None
                if log and (self.step % c.log_every == 0 or self.step == c.steps):
                    log.write(self.step, time.perf_counter() - start, logs)
                if main and sample_dir and c.sample_every and self.step % c.sample_every == 0:
                    self.write_samples(Path(sample_dir) / f"step_{self.step:06d}.png")
                if (
                    checkpoint
                    and main
                    and (self.step % c.checkpoint_every == 0 or self.step == c.steps)
                ):
                    self.save_checkpoint(checkpoint)
                yield TrainStep(self.step, logs)
        finally:
            self._batches = None  # stops the loader's workers
            if log:
                log.close()

    def fit(self, log_path=None, progress: bool = True, checkpoint=None, sample_dir=None) -> None:
        """Run :meth:`iter_fit` to the end with a tqdm progress bar."""
        from tqdm.auto import tqdm

        bar = tqdm(total=self.config.steps, initial=self.step, disable=not progress or self.rank)
        for event in self.iter_fit(log_path, checkpoint, sample_dir):
            bar.update(1)
            if event.step % self.config.log_every == 0:
                bar.set_postfix({k: f"{v:.3g}" for k, v in event.losses.items()})
        bar.close()

    # -- files ------------------------------------------------------------------------------

    @torch.no_grad()
    def write_samples(self, path: str | Path, n: int = 4) -> Path:
        """A PNG grid of fixed patches: gray input, EMA generator's colour, truth."""
        import imageio.v3 as iio

        if not hasattr(self, "_sample_batch"):
            fixed = PatchSampler(
                self.sampler.sources,
                self.config.patch,
                self.config.seed + 2,
                views=bool(self.G.arch.context),
                min_foreground=self.config.min_foreground,
            )
            self._sample_batch = fixed.batch(0, n)
        b = self._sample_batch
        cond, L, ab = (t.to(self.device) for t in (b.cond, b.L, b.ab))
        context = None
        if self.G.arch.context:
            context = self._image_codes(self.G_ema, b.views)
        fake = self._as_rgb(cond, self.G_ema(cond, None, context).float())
        gray = (cond / 100).expand(-1, 3, -1, -1)
        truth = self._as_rgb(L, self._target(L, ab))
        rows = [torch.cat(list(x), dim=2) for x in (gray, fake, truth)]
        grid = torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).cpu().numpy()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, (grid * 255 + 0.5).astype(np.uint8))
        return path

    def save(self, path: str | Path, provenance: dict | None = None) -> Path:
        """Write the EMA generator and the discriminator, with the config as provenance."""
        record = {
            "train_config": asdict(self.config),
            "precision": self.precision.dtype,
            "steps": self.step,
            "seed": self.config.seed,
            "mean_ab": self.mean_ab,
        }
        if self.G.arch.guided:
            record["code_prior"] = self.code_prior()
        record.update(provenance or {})
        self.G_ema.provenance = json.loads(json.dumps(record))
        return save_weights(
            path,
            _stored_copy(self.G_ema),
            discriminator=None if self.D is None else _stored_copy(self.D),
            provenance=record,
        )

    def code_prior(self, n: int = 512) -> dict:
        """The palettes ``colorize(..., samples=k)`` draws from.

        The reference codes of ``n`` training crops, each with the lightness signature
        of its whole image's context view, and their mean and covariance (see
        :func:`~napari_colorgan.guide.sample_codes`). Drawn from a stream of its own,
        so it does not disturb (or depend on) the training run's.
        """
        fixed = PatchSampler(
            self.sampler.sources,
            self.config.patch,
            self.config.seed + 3,
            weights=self.sampler.weights,
            min_foreground=self.config.min_foreground,
        )
        rgb, sources = fixed.crops(n)
        ab = rgb_to_lab(rgb)[:, 1:].flatten(2) / AB_SCALE
        codes = torch.cat([ab.mean(2), ab.std(2)], 1).double()
        signatures = {
            i: lightness_signature(block_view(fixed.lightness(i)).numpy()) for i in set(sources)
        }
        return {
            "mean": codes.mean(0).tolist(),
            "cov": torch.cov(codes.T).tolist(),
            "codes": np.round(codes.numpy(), 4).tolist(),
            "views": [np.round(signatures[i], 4).tolist() for i in sources],
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write everything needed to continue this run exactly (atomically)."""
        streams = {"rng.trainer": self.rng.get_state()}  # batches follow from the step
        return save_checkpoint(
            path, self.step, self.config, self._stateful(), streams, self.precision.dtype
        )

    def load_checkpoint(self, path: str | Path) -> int:
        """Continue from a checkpoint of a run with the same settings and precision.

        Returns its step.
        """
        self.step, tensors = load_checkpoint(
            path, self.config, self._stateful(), self.precision.dtype
        )
        self.rng.set_state(tensors["rng.trainer"])
        set_encoder_trainable(self.G, self.step >= self.config.freeze_encoder)
        return self.step

    def _stateful(self) -> dict:
        parts = {"G": self.G, "G_ema": self.G_ema, "opt_g": self.opt_g}
        if self.D is not None:
            parts.update(D=self.D, opt_d=self.opt_d)
        return parts


def _stored_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy in dense NCHW (all safetensors stores); the live module stays as it is."""
    copy_ = copy.deepcopy(module).cpu()
    return copy_.to(memory_format=torch.contiguous_format)


def training_precision(precision: str, device: torch.device) -> Precision:
    """The precision a run trains at: ``"auto"`` is bf16 on native-bf16 CPUs and on CUDA.

    As :func:`~napari_colorgan.engine.precision.resolve_precision`, except that CUDA
    trains in bf16 (no fp16: that would need loss scaling).
    """
    chosen = resolve_precision(precision, device)
    if chosen.device_type == "cuda" and chosen.dtype == "float16":
        return Precision("bfloat16", "cuda")
    return chosen


def _average_gradients(module: torch.nn.Module, world: int) -> None:
    """All-reduce the gradients of ``module`` to their mean over the processes.

    What DistributedDataParallel does after ``backward``, done explicitly: DDP
    does not support the double backward of the R1 and gradient penalties, nor
    several forward passes of D per step.
    """
    import torch.distributed as dist

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
