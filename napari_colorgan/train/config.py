"""The settings of a training run: one dataclass, read from a recipe's TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine.precision import PRECISIONS
from . import losses


@dataclass
class TrainConfig:
    """Every setting of a training run; recorded in the weights' metadata.

    Loss weights follow pix2pix (L1 on ab / AB_SCALE with weight 100 against an
    adversarial weight of 1) and pix2pixHD (discriminator feature matching).
    ``adv = fm = 0`` trains the plain regression U-Net (no discriminator).
    ``precision`` is ``"auto"`` (bf16 autocast and channels_last on CPUs with native
    bf16 and on CUDA, float32 elsewhere), ``"float32"`` or ``"bfloat16"``.
    ``base`` starts from a trained model (transfer learning); its encoder is
    frozen for the first ``freeze_encoder`` steps, after which the generator's
    learning rate is multiplied by ``unfrozen_lr_scale``. ``guided`` trains the
    guided variant (random hints from the truth, reference codes from another crop
    of the same image); from an unguided base it starts as that base exactly.
    """

    size: str = "lite"
    """Generator size, a key of ``models.generator.SIZES``."""
    mode: str = "colorize"
    """``"colorize"`` predicts ab for the input's L; ``"translate"`` predicts sRGB."""
    guided: bool = False
    """Train the guided variant (hint maps and a reference code as inputs)."""
    context: int = 0
    """Size of an image-level context code (0: none); from a base without one, the
    code's layers start at zero (the base's predictions)."""
    match: bool = False
    """Train a matched model (:mod:`napari_colorgan.matching`): every input is its image's
    lightness matched onto the training data's, whatever the gray's tone curve. A
    base without a reference gets the training images' pooled quantiles."""
    linear_cameras: bool = False
    """Mark the model as reading a gray that ``normalize="auto"`` stretches as linear in
    light (:class:`~napari_colorgan.models.generator.GeneratorConfig`), and read the
    gray of real pairs so; a base's mark is kept."""
    base: str = ""
    """A trained model (name or path) to start from; empty starts from scratch."""
    steps: int = 4000
    """Optimisation steps in all."""
    warmup: int = 1000
    """First steps with the reconstruction loss alone (no adversarial term)."""
    batch: int = 16
    """Patches per step."""
    patch: int = 128
    """Side of a training patch, in pixels."""
    lr_g: float = 2e-4
    """The generator's Adam learning rate."""
    lr_d: float = 4e-4
    """The discriminator's Adam learning rate."""
    freeze_encoder: int = 0
    """Steps during which a base's encoder stays frozen."""
    unfrozen_lr_scale: float = 1.0
    """Factor on ``lr_g`` once the encoder trains."""
    gan: str = "hinge"
    """Adversarial loss, one of ``losses.GANS``."""
    recon: str = "l1"
    """Reconstruction loss: ``"l1"`` or ``"l2"``."""
    l1: float = 100.0
    """Weight of the reconstruction loss."""
    adv: float = 1.0
    """Weight of the adversarial loss (0 with ``fm = 0``: no discriminator)."""
    fm: float = 2.0
    """Weight of discriminator feature matching (pix2pixHD)."""
    r1: float = 0.2
    """Weight of the discriminator's R1 penalty on real patches."""
    r1_every: int = 4
    """Steps between R1 penalties (lazy regularisation)."""
    gp: float = 10.0
    """Weight of WGAN-GP's gradient penalty."""
    chroma: float = 0.0
    """Weight of the chroma-deficit term against washed-out colour (0: off)."""
    hint: float = 0.0
    """Weight of hint fidelity for the guided variant (0: off)."""
    perceptual: str = ""
    """VGG features file of a perceptual loss (empty: off)."""
    perceptual_weight: float = 1.0
    """Weight of the perceptual loss."""
    ema: float = 0.999
    """Decay of the generator's moving average (the weights saved)."""
    clip: float = 1.0
    """Gradient norm clip (0: off)."""
    seed: int = 0
    """Seed of every random stream of the run."""
    threads: int = 0
    """torch's CPU threads (0: torch's default)."""
    device: str = "cpu"
    """``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``."""
    precision: str = "auto"
    """``"auto"``, ``"float32"`` or ``"bfloat16"`` (see above)."""
    log_every: int = 50
    """Steps between rows of the loss log."""
    checkpoint_every: int = 250
    """Steps between checkpoints."""
    sample_every: int = 0
    """Steps between sample grids (0: none)."""
    tensorboard: bool = False
    """Also log the losses to TensorBoard."""
    augment: dict = field(default_factory=dict)
    """Options of :class:`~.data.Augment` (all off by default)."""
    min_foreground: float = 0.0
    """Least share of foreground (tissue, not glass) of a drawn patch, on a mask from
    each image's low-resolution view (0: patches anywhere)."""
    workers: int = 0
    """Processes that read and augment patches ahead of the steps (0: in the training
    process); the patches are the same for any number."""
    data: list = field(default_factory=list)
    """The ``[[data]]`` entries: training images, each with a ``source`` (a file, folder
    or glob, ``skimage:``/``sklearn:``/``video:``), optionally ``input`` (the gray of a
    real pair, same pixel grid), ``rows``/``cols``, ``weight`` (see
    :func:`~.sources.open_entry`); read by regions, never whole."""
    heldout: list = field(default_factory=list)
    """The ``[[heldout]]`` entries: images for the metrics, never trained on."""

    def __post_init__(self):
        if not 0 <= self.min_foreground < 1:
            raise ValueError(f"min_foreground must be in [0, 1), got {self.min_foreground}")
        if self.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {self.workers}")
        if self.gan not in losses.GANS:
            raise ValueError(f"gan must be one of {losses.GANS}, got {self.gan!r}")
        if self.recon not in ("l1", "l2"):
            raise ValueError(f"recon must be 'l1' or 'l2', got {self.recon!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for table in ("data", "heldout"):
            for number, spec in enumerate(getattr(self, table), 1):
                if not isinstance(spec, dict) or "source" not in spec:
                    raise ValueError(
                        f"[[{table}]] entry {number} needs a source (an image file, "
                        f"skimage:NAME or video:PATH), got {spec!r}"
                    )

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read and check a recipe, exactly as ``colorgan train`` does.

        The one reader of recipes is :func:`~.recipe.read_recipe`: every key typed
        and range-checked (:mod:`.validate`), unknown keys refused, data files and
        the base checked before any data are read.

        Raises
        ------
        RecipeError
            One line naming the file (a TOML syntax error included), the key and
            what it may be.
        FileNotFoundError
            When the recipe does not exist.
        """
        from .recipe import read_recipe

        return read_recipe(path)
