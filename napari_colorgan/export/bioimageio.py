"""A bioimage.io model package (spec 0.5) of a colourisation model, built with bioimageio.spec.

The package holds TorchScript weights and their ONNX conversion (both the
:class:`~napari_colorgan.export.graph.GrayToRGB` graph: gray in, sRGB out), a
test input cut from a real sample image with the library's own result as the
expected output, a before/after cover, a README and the training provenance.
"""

from __future__ import annotations

import os
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np

from .. import __version__
from ..io.atomic import atomic_write
from .graph import OPSET, GrayToRGB, write_onnx, write_torchscript

# the held-out sample image that shows each shipped model on its own domain
SAMPLES = {"histology": "ihc_bottom.png", "astronomy": "hubble_right.png"}
DEFAULT_SAMPLE = "retina_bottom.png"
# the exported graph reproduces the library to ~1e-6 (tests/test_export.py); this
# leaves room for other runtimes and hardware, not for a different computation
TOLERANCE = 1e-4
CITATIONS = (
    (
        "Isola et al. (2017), Image-to-image translation with conditional adversarial networks",
        "10.1109/CVPR.2017.632",
    ),
    (
        "Oktay et al. (2018), Attention U-Net: learning where to look for the pancreas",
        "10.48550/arXiv.1804.03999",
    ),
    ("Zhang et al. (2016), Colorful image colorization", "10.1007/978-3-319-46487-9_40"),
)


def min_block(generator) -> int:
    """Smallest input side declared: a multiple of the stride, larger than both halos."""
    return (2 * generator.halo() // generator.stride + 1) * generator.stride


def sample_crop(name: str, size: int, sample=None) -> np.ndarray:
    """A ``size`` x ``size`` float32 gray crop in [0, 1] for the package's test tensors.

    ``sample`` is a 2-D array (uint8 or float in [0, 1]) or an image path; by
    default the shipped sample image of the model's domain. The crop is centred.
    """
    if sample is None:
        resource = files("napari_colorgan.sample_data") / SAMPLES.get(name, DEFAULT_SAMPLE)
        with as_file(resource) as path:
            sample = _read_gray(path)
    elif isinstance(sample, (str, os.PathLike)):
        sample = _read_gray(sample)
    gray = np.asarray(sample)
    if gray.ndim != 2 or min(gray.shape) < size:
        raise ValueError(
            f"the sample must be a 2-D image of at least {size}x{size}, got {gray.shape}"
        )
    if gray.dtype != np.uint8 and gray.dtype.kind != "f":
        raise ValueError(f"the sample must be uint8 or float in [0, 1], got dtype {gray.dtype}")
    y, x = ((n - size) // 2 for n in gray.shape)
    crop = gray[y : y + size, x : x + size].astype(np.float32)
    return (crop / 255 if gray.dtype == np.uint8 else crop).clip(0, 1)


def _read_gray(path) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(path)


def build_package(generator, out: str | os.PathLike, *, name: str, sample=None) -> Path:
    """Write the bioimage.io zip of ``generator`` to ``out`` (atomically)."""
    import torch
    from bioimageio.spec import save_bioimageio_package

    from ..engine.pipeline import colorize

    gray = sample_crop(name, min_block(generator), sample)
    # the graph runs in float32 on any runtime; so does the reference it is held to
    expected = colorize(gray, generator, normalize="none", precision="float32")
    expected = expected.transpose(2, 0, 1)
    graph = GrayToRGB(generator).eval()
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "test_input.npy", gray[None, None])
        np.save(tmp / "test_output.npy", expected[None].astype(np.float32))
        _write_images(tmp, gray, expected)
        (tmp / "README.md").write_text(_documentation(generator, name), encoding="utf-8")
        write_torchscript(graph, tmp / "weights.pt")
        write_onnx(graph, tmp / "weights.onnx")
        descr = _describe(generator, name, tmp, torch.__version__.split("+")[0])
        with atomic_write(out) as partial:
            save_bioimageio_package(descr, output_path=partial)
    return out


def _write_images(folder: Path, gray: np.ndarray, rgb: np.ndarray) -> None:
    """The sample tensors as PNGs, and before (gray) beside after (colour) as the 2:1 cover."""
    import imageio.v3 as iio

    def to_uint8(x):
        return (x * 255 + 0.5).astype(np.uint8)

    after = rgb.transpose(1, 2, 0)
    iio.imwrite(folder / "sample_input.png", to_uint8(gray))
    iio.imwrite(folder / "sample_output.png", to_uint8(after))
    before = np.repeat(gray[..., None], 3, -1)
    iio.imwrite(folder / "cover.png", to_uint8(np.concatenate([before, after], axis=1)))


def _describe(generator, name: str, folder: Path, torch_version: str):
    """The package's model description: tensors, weights, configuration and metadata."""
    from bioimageio.spec.model import v0_5 as bio

    inputs, outputs = _tensors(bio, generator, folder)
    return bio.ModelDescr(
        name=f"napari-colorgan {name}",
        description=(
            f"Colourises grayscale images ({generator.mode} mode): predicts CIELAB chroma "
            "from lightness and returns sRGB with the input's lightness kept."
            if generator.mode == "colorize"
            else f"Translates grayscale images to sRGB ({generator.mode} mode)."
        ),
        authors=[bio.Author(name="napari-colorgan developers")],
        cite=[bio.CiteEntry(text=text, doi=bio.Doi(doi)) for text, doi in CITATIONS],
        license=bio.LicenseId("BSD-3-Clause"),
        documentation=bio.FileDescr(source=folder / "README.md"),
        covers=[bio.FileDescr(source=folder / "cover.png")],
        tags=["colorization", "image-to-image", "2d", "gan", "napari", "pytorch", "onnx"],
        inputs=[inputs],
        outputs=[outputs],
        weights=_weights(bio, folder, torch_version),
        config=_config(bio, generator, name),
    )


def _tensors(bio, generator, folder: Path) -> tuple:
    """The gray input and sRGB output tensors: sizes a multiple of the stride, a halo out."""
    size = bio.ParameterizedSize(min=min_block(generator), step=generator.stride)
    halo = generator.halo()

    def same_as(axis: str):
        return bio.SizeReference(tensor_id=bio.TensorId("gray"), axis_id=bio.AxisId(axis))

    def tensor(descr, stem: str, tensor_id: str, channels: str, space: list, description: str):
        return descr(
            id=bio.TensorId(tensor_id),
            description=description,
            axes=[
                bio.BatchAxis(),
                bio.ChannelAxis(channel_names=[bio.Identifier(c) for c in channels.split()]),
                *space,
            ],
            test_tensor=bio.FileDescr(source=folder / f"test_{stem}.npy"),
            sample_tensor=bio.FileDescr(source=folder / f"sample_{stem}.png"),
            data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        )

    inputs = tensor(
        bio.InputTensorDescr,
        "input",
        "gray",
        "gray",
        [bio.SpaceInputAxis(id=bio.AxisId(a), size=size) for a in "yx"],
        "gray in [0, 1], one global range (e.g. 0.1/99.9 percentiles); "
        + (
            "camera counts sRGB-encoded after it, other grays as they are"
            if generator.arch.linear_cameras
            else "camera-linear, luma or other tone curves as they are"
        ),
    )
    outputs = tensor(
        bio.OutputTensorDescr,
        "output",
        "rgb",
        "r g b",
        [bio.SpaceOutputAxisWithHalo(id=bio.AxisId(a), size=same_as(a), halo=halo) for a in "yx"],
        "sRGB in [0, 1]; in colorize mode its CIELAB lightness is the input's",
    )
    return inputs, outputs


def _weights(bio, folder: Path, torch_version: str):
    """TorchScript weights and their ONNX conversion."""
    return bio.WeightsDescr(
        torchscript=bio.TorchscriptWeightsDescr(
            source=folder / "weights.pt",
            pytorch_version=bio.Version(torch_version),
            comment="traced GrayToRGB: the generator with the Lab -> RGB step inside",
        ),
        onnx=bio.OnnxWeightsDescr(
            source=folder / "weights.onnx",
            opset_version=OPSET,
            parent="torchscript",
            comment="the same graph exported with torch.onnx",
        ),
    )


def _config(bio, generator, name: str):
    """bioimage.io's config (tolerance, architecture, training) and the generator's own."""
    train = generator.provenance.get("train_config", {})
    tolerance = bio.ReproducibilityTolerance(
        relative_tolerance=TOLERANCE,
        absolute_tolerance=TOLERANCE,
        mismatched_elements_per_million=0,
    )
    return bio.Config(
        bioimageio=bio.BioimageioConfig(
            reproducibility_tolerance=[tolerance],
            architecture_type="U-Net (GAN generator)",
            architecture_description=(
                "residual U-Net with attention gates on the skips and no spatial statistics "
                f"(a local operator: stride {generator.stride}, halo {generator.halo()} px), "
                "trained as the generator of a conditional GAN"
            ),
            task="colorization",
            model_parameter_count=sum(p.numel() for p in generator.parameters()),
            training=bio.TrainingDetails(
                training_batch_size=train.get("batch"),
                initial_learning_rate=train.get("lr_g"),
                loss_function=_loss_summary(train),
                optimizer="torch.optim.Adam" if train else None,
            ),
        ),
        napari_colorgan={"model": name, **generator.config, **_reference(generator)},
    )


def _reference(generator) -> dict:
    if not generator.arch.matched:
        return {}
    return {"reference": [round(float(v), 4) for v in generator.reference]}


def _matched_note(generator) -> list[str]:
    """What a matched model's input must be: its lookup is of the whole image, not a block."""
    if not generator.arch.matched:
        return []
    return [
        "This is a *matched* model: it reads lightness matched onto its training data's,",
        "so that its colour does not depend on how the gray was made. The graph takes `gray`",
        "matched already (one lookup for the whole image or stack, not per block): the sRGB",
        "lightness L of the gray, mapped by the image's quantiles onto the 1025 reference",
        "quantiles `napari_colorgan.reference` of this description, read back as gray",
        "(`napari_colorgan.matching`); the colour is shown at that lightness. Unmatched input",
        "gives colours that depend on the gray's tone curve.",
        "",
    ]


def _cameras_note(generator) -> list[str]:
    """How a camera's counts become the gray a model that reads cameras as light expects."""
    if not generator.arch.linear_cameras:
        return []
    return [
        "This model reads a camera's counts (integers wider than 8 bits) as linear light:",
        "stretch them by the whole image's 0.1/99.9 percentiles to [0, 1] and sRGB-encode",
        "the result before the graph (`napari_colorgan.colorize` does this by default).",
        "",
    ]


def _loss_summary(train: dict) -> str | None:
    if not train:
        return None
    terms = [
        f"{train.get('recon', 'l1')} x{train.get('l1')}",
        f"{train.get('gan')} GAN x{train.get('adv')}",
    ]
    return ", ".join(terms)


def _documentation(generator, name: str) -> str:
    provenance = generator.provenance
    lines = [
        f"# napari-colorgan `{name}`",
        "",
        "Colourises a grayscale image. Input `gray`: float32, axes (batch, channel, y, x),",
        "one channel, intensity in [0, 1] (uint8 divided by 255; other data stretched to",
        "[0, 1], e.g. by its 0.1/99.9 percentiles). Output `rgb`: sRGB in [0, 1], axes",
        "(batch, channel, y, x). The Lab -> RGB conversion is inside the graph.",
        "",
        f"Any height and width works: the graph pads to a multiple of {generator.stride} by edge",
        "replication and crops back. For blockwise prediction, use the block sizes of the",
        f"input axes and discard a halo of {generator.halo()} px per side (declared on the",
        "output axes): the model is a local operator, so the blocks then give the same",
        "pixels as the whole image, except within that halo of the image border, where a",
        "blockwise runner's padding (bioimageio.core: symmetric) stands in for the edge.",
        "",
        f"Exported by napari-colorgan {__version__} (`colorgan export {name} OUT.zip`); the",
        "graph computes what `napari_colorgan.colorize(gray, normalize='none',",
        "precision='float32')` returns.",
        "",
        *_matched_note(generator),
        *_cameras_note(generator),
        "## Training",
        "",
        f"- recipe: `{provenance.get('recipe', 'unknown')}`, steps: {provenance.get('steps')}, "
        f"seed: {provenance.get('seed')}",
        "- data: " + ", ".join(f"`{d}`" for d in provenance.get("data", [])),
        "",
        "## Validation",
        "",
        "Held-out images, never seen in training (PSNR and SSIM higher is better, CIEDE2000",
        "lower; colourfulness ratio: predicted over true, 1 is the truth's):",
        "",
        "| image | PSNR | SSIM | ΔE2000 | colourfulness ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for image, m in provenance.get("heldout_metrics", {}).items():
        lines.append(
            f"| `{image}` | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['delta_e2000']:.2f} "
            f"| {m.get('colorfulness_ratio', float('nan')):.2f} |"
        )
    lines += ["", "The full provenance is in the rdf's `config.napari_colorgan`."]
    return "\n".join(lines) + "\n"
