"""The ``colorgan`` command: colorize, models, evaluate, train, finetune, export."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .diagnostics import USER_ERRORS, add_log_options, log_error, logging_to


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already says it.

    Flags (off unless given), required options and options whose help names the
    default in words (``default: measured for the device``) are left as written.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.required
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorgan",
        description="Colourise grayscale scientific images with a GAN, tile by tile.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, description, add_arguments) in _SUBCOMMANDS.items():
        command = sub.add_parser(
            name, help=summary, description=description, formatter_class=_HelpFormatter
        )
        add_arguments(command)
        add_log_options(command)
    return parser


def _add_colorize(c: argparse.ArgumentParser) -> None:
    c.add_argument(
        "input",
        help="grayscale image: .png .jpg .tif (incl. BigTIFF/OME-TIFF) .zarr .fits/.fz, "
        "a video (.mp4 .avi .mov .mkv), or a folder or quoted glob ('slides/*.tif')",
    )
    c.add_argument(
        "output",
        type=Path,
        help="result: .ome.zarr, .zarr, .tif, .ome.tif (any n-D), .png (2-D), .mp4 "
        "(frames); for a folder or glob, an output folder",
    )
    c.add_argument(
        "--model",
        default=None,
        help="shipped name or .safetensors path (default: general; guided when a "
        "guidance option is given)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_tiling(c.add_argument_group("tiles and device"))
    _add_reading(c.add_argument_group("reading the input"))
    _add_writing(c.add_argument_group("writing the output"))
    _add_guidance(c)


def _add_tiling(g: argparse._ArgumentGroup) -> None:
    from .engine.tiling import RENDER_SCALES

    g.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="output pixels per tile side (default: measured for the device, 512 on CPU)",
    )
    g.add_argument(
        "--batch-size", type=int, default=None, help="tiles per forward pass (default: auto)"
    )
    g.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)"
    )
    g.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16"),
        help="network number format: auto is bf16 on CPUs with native bf16, AMP on CUDA, "
        "else float32; colour maths stay float32 (default: auto)",
    )
    g.add_argument(
        "--render-scale",
        type=int,
        default=1,
        choices=RENDER_SCALES,
        help="predict chroma at 1/N resolution, upsampled guided by L (default: 1)",
    )


def _add_reading(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--normalize",
        default="auto",
        help="auto (uint8 and floats in [0, 1] as they are, else 0.1-99.9 percentiles, read "
        "as light by a model that reads cameras so: histology), "
        "percentiles, linear (percentiles of a gray linear in light: a monochrome camera), "
        "none (floats already in [0, 1]), or LOW,HIGH",
    )
    g.add_argument(
        "--from-rgb",
        action="store_true",
        help="colourise a colour input's lightness (a colour video chunk by chunk)",
    )
    g.add_argument("--level", type=int, default=0, help="pyramid level of a multiscale input")


def _add_writing(g: argparse._ArgumentGroup) -> None:
    from .io.scaling import OUT_DTYPES

    g.add_argument(
        "--suffix",
        default=".ome.zarr",
        help="output format of each file of a folder or glob (default: .ome.zarr)",
    )
    g.add_argument(
        "--dtype",
        default=None,
        choices=OUT_DTYPES,
        help="output sample type in every format (float32 not in PNG/JPEG; zarr chunks "
        "zstd-compressed); default: uint16 for 16-bit input, else uint8",
    )
    g.add_argument(
        "--no-resume", action="store_true", help="start a zarr output again instead of resuming"
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler for zarr outputs, e.g. tcp://host:8786 (default: "
        "threads in this process)",
    )


def _add_guidance(c: argparse.ArgumentParser) -> None:
    g = c.add_argument_group(
        "guidance (a guided model, e.g. --model guided; all but --reference load the image)"
    )
    g.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="Y,X,#RRGGBB",
        help="a colour you know at a pixel (leading coordinates first for a stack); repeat "
        "for more (default: none)",
    )
    g.add_argument(
        "--hint-reach",
        type=int,
        metavar="PIXELS",
        help="how far a hint's colour spreads over similar lightness (default: 48; "
        "0: the network alone)",
    )
    g.add_argument(
        "--reference", type=Path, help="colour image whose palette to follow (default: none)"
    )
    g.add_argument(
        "--samples",
        type=int,
        metavar="K",
        help="K plausible colourings (OUTPUT_sample<i>) and their chroma spread "
        "(OUTPUT_uncertainty.tif, CIELAB units) (default: one colouring)",
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the sampled palettes")
    g.add_argument(
        "--temporal",
        action="store_true",
        help="colourise the first axis in order, each plane following the last: no flicker",
    )


def _add_evaluate(e: argparse.ArgumentParser) -> None:
    e.add_argument("images", nargs="+", type=Path, help="colour ground-truth images")
    e.add_argument("--model", default="general", help="shipped name or .safetensors path")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument(
        "--gray",
        default="lstar",
        metavar="FORMATION",
        help="how the gray input is made from each image: lstar (CIELAB L*), luma "
        "(BT.709 of the sRGB), linear12 / linear16 (a linear camera), camera12 (with "
        "shot and read noise, offset, vignetting), gammaG (e.g. gamma0.7); models are "
        "then compared by delta_e2000_chroma",
    )
    e.add_argument(
        "--normalize",
        default="auto",
        help="as for colorize: linear reads the formed gray as linear in light",
    )
    e.add_argument(
        "--l1-unet",
        metavar="WEIGHTS",
        help="the L1-only U-Net baseline to compare with (default: the shipped one of "
        "a shipped model)",
    )
    e.add_argument(
        "--no-two-sample",
        action="store_true",
        help="skip the classifier two-sample test (about 10 s per image and method)",
    )


def _add_train(t: argparse.ArgumentParser) -> None:
    t.add_argument("config", type=Path, help="recipe, e.g. training/general.toml")
    t.add_argument("--out", type=Path, required=True, help="weights file to write (.safetensors)")
    t.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the recipe's, cpu)")
    t.add_argument(
        "--base",
        help="start from this model instead of the recipe's base (default: the recipe's)",
    )
    t.add_argument(
        "--l1-only",
        action="store_true",
        help="train the regression baseline: no discriminator, reconstruction loss only "
        "(a recipe fine-tuning a shipped model starts from that model's L1-only baseline)",
    )
    t.add_argument("--restart", action="store_true", help="ignore a checkpoint of an earlier run")
    t.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        help="auto: bf16 autocast on CPUs with native bf16, AMP on CUDA, else float32 "
        "(default: the recipe's, auto)",
    )
    t.add_argument("--seed", type=int, help="random seed (default: the recipe's)")
    t.add_argument("--steps", type=int, help="optimisation steps (default: the recipe's)")
    t.add_argument("--threads", type=int, help="CPU threads, 0: torch's (default: the recipe's)")


def _add_finetune(f: argparse.ArgumentParser) -> None:
    f.add_argument("--base", default="general", help="shipped name or .safetensors path")
    f.add_argument(
        "--images", nargs="+", required=True, help="colour images: files, folders or globs"
    )
    f.add_argument(
        "--inputs",
        nargs="+",
        help="real gray inputs, one per --images entry, same pixel grid (default: none, the "
        "gray is made from each colour image)",
    )
    f.add_argument(
        "--min-foreground", type=float, default=0.0, help="least tissue share of a patch (0-1)"
    )
    f.add_argument("--workers", type=int, default=0, help="processes reading patches ahead")
    f.add_argument("--out", type=Path, required=True, help="weights file to write")
    f.add_argument("--steps", type=int, default=300, help="optimisation steps (default: 300)")
    f.add_argument("--patch", type=int, default=128, help="training crop size (default: 128)")
    f.add_argument("--seed", type=int, default=0, help="random seed of crops and initialisation")
    f.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")


def _add_export(x: argparse.ArgumentParser) -> None:
    from .export import FORMATS  # no torch: the parser stays fast

    x.add_argument("model", help="shipped name or .safetensors path")
    x.add_argument("out", type=Path, help="file to write: .zip (bioimageio) or .onnx (onnx)")
    x.add_argument(
        "--format", choices=FORMATS, default="bioimageio", help="bioimageio package or ONNX graph"
    )
    x.add_argument(
        "--sample",
        type=Path,
        help="gray image (uint8 or float) for the package's test data and cover "
        "(default: the shipped sample image of the model's domain)",
    )


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A subcommand without options."""


# each subcommand: its one-line help, its description and what adds its arguments
_SUBCOMMANDS = {
    "colorize": (
        "colourise a grayscale image file, a folder or a glob",
        (
            "Colourise a grayscale image (2-D or a stack, any dtype), a video, or every "
            "image of a folder or glob into an output folder. zarr, OME-Zarr, TIFF and "
            "MP4 outputs stream and resume after an interruption."
        ),
        _add_colorize,
    ),
    "models": (
        "list the shipped models and their held-out metrics",
        "List the shipped models, their training data and held-out metrics.",
        _no_arguments,
    ),
    "evaluate": (
        "score a model on colour images",
        "Colourise the gray version of colour images and compare with the truth.",
        _add_evaluate,
    ),
    "train": (
        "train a model from a recipe",
        "Train, evaluate on the held-out images and save, as a TOML recipe says.",
        _add_train,
    ),
    "finetune": (
        "adapt a model to your images",
        (
            "Fine-tune a model on a few colour images of a new domain: the encoder stays "
            "frozen for the first 30 % of the steps, then all layers train at half the rate."
        ),
        _add_finetune,
    ),
    "export": (
        "export a model for bioimage.io tools or ONNX runtimes",
        (
            "Write a model as a bioimage.io package (.zip: TorchScript and ONNX weights, test "
            "data, cover, provenance) or as an ONNX file. Both take gray in [0, 1], axes "
            "(batch, 1, y, x), and return sRGB in [0, 1], axes (batch, 3, y, x)."
        ),
        _add_export,
    ),
}


def _normalize_arg(text: str):
    from .io.scaling import NORMALIZE_MODES

    if text in NORMALIZE_MODES:
        return text
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--normalize must be {', '.join(NORMALIZE_MODES)} or LOW,HIGH, got {text!r}"
        ) from None
    return low, high


def _colorize(args) -> int:
    normalize = _normalize_arg(args.normalize)
    if _is_batch(args.input):
        return _colorize_batch(args, normalize)
    source = args.input = Path(args.input)
    if args.scheduler:
        from distributed import Client

        with Client(args.scheduler):
            return _colorize_file(args, source, normalize)
    return _colorize_file(args, source, normalize)


def _parse_hint(text: str) -> tuple[tuple[int, ...], tuple[float, float, float]]:
    """``"Y,X,#RRGGBB"`` (leading coordinates first) as ``((y, x), (r, g, b))``."""
    *coords, colour = text.split(",")
    try:
        if not coords or not (colour.startswith("#") and len(colour) == 7):
            raise ValueError
        rgb = tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
        return tuple(int(c) for c in coords), rgb
    except ValueError:
        raise ValueError(f"--hint {text!r}: expected Y,X,#RRGGBB, e.g. 120,340,#c03050") from None


def _is_batch(text: str) -> bool:
    """A folder (not a zarr store) or a glob pattern: one output per file."""
    from .batch import GLOB_CHARS

    path = Path(text)
    is_folder = path.is_dir() and path.suffix.lower() != ".zarr"
    return is_folder or (bool(GLOB_CHARS & set(text)) and not path.exists())


def _colorize_batch(args: argparse.Namespace, normalize: Any) -> int:
    """Every file of a folder or glob into ``args.output``; exit 1 if any failed."""
    from .batch import colorize_batch

    options = _file_options(args, normalize)
    model = options.pop("model")
    result = colorize_batch(args.input, args.output, model, suffix=args.suffix, **options)
    print(result.summary(), file=sys.stderr if result.failed else sys.stdout)
    return 0 if result.ok else 1


def _file_options(args: argparse.Namespace, normalize: Any) -> dict:
    """colorize_to_file's keywords from the command line (all but the paths)."""
    from .io.readers import read_rgb

    return dict(
        model=args.model,
        resume=not args.no_resume,
        level=args.level,
        dtype=args.dtype,
        from_rgb=args.from_rgb,
        tile_size=args.tile_size,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        normalize=normalize,
        render_scale=args.render_scale,
        reference=None if args.reference is None else read_rgb(args.reference),
        hints=[_parse_hint(h) for h in args.hint] or None,
        **({} if args.hint_reach is None else {"hint_reach": args.hint_reach}),
        samples=args.samples,
        temporal=args.temporal,
        seed=args.seed,
        progress=not args.quiet,
    )


def _colorize_file(args: argparse.Namespace, source: Any, normalize: Any) -> int:
    from .engine.pipeline import colorize_to_file

    options = _file_options(args, normalize)
    written = colorize_to_file(source, args.output, options.pop("model"), **options)
    for path in written if isinstance(written, list) else [written]:
        print(f"wrote {Path(path).resolve()}")
    return 0


def _models(_args) -> int:
    from .models.catalogue import models_text

    print(models_text())
    return 0


def _evaluate(args) -> int:
    from .io.readers import read_rgb
    from .models.registry import shipped_regression
    from .train.evaluate import evaluate_model, format_table

    images = {path.name: read_rgb(path) for path in args.images}
    regression = args.l1_unet or shipped_regression(args.model)
    results = evaluate_model(
        args.model,
        images,
        regression=regression,
        two_sample=not args.no_two_sample,
        gray=args.gray,
        normalize=_normalize_arg(args.normalize),
    )
    print(json.dumps(results, indent=1) if args.json else format_table(results))
    return 0


def _train(args) -> int:
    from .train.recipe import run_recipe

    names = ("device", "base", "precision", "seed", "steps", "threads")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    with _distributed(args.device):
        run_recipe(args.config, args.out, restart=args.restart, l1_only=args.l1_only, **overrides)
    return 0


@contextmanager
def _distributed(device: str | None):
    """Join the process group when started by ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        yield
        return
    import torch.distributed as dist

    backend = "nccl" if device and device.startswith("cuda") else "gloo"
    dist.init_process_group(backend)
    if backend == "nccl":
        import torch

        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    try:
        yield
    finally:
        dist.barrier()  # rank 0 saves last; gloo aborts a rank torn down early
        dist.destroy_process_group()


def _finetune(args) -> int:
    from .train.transfer import finetune

    finetune(
        args.base,
        args.images,
        args.steps,
        inputs=args.inputs,
        out=args.out,
        patch=args.patch,
        seed=args.seed,
        device=args.device,
        min_foreground=args.min_foreground,
        workers=args.workers,
    )
    print(f"wrote {args.out.resolve()}")
    return 0


def _export(args) -> int:
    from .export import export_model

    path = export_model(args.model, args.out, format=args.format, sample=args.sample)
    print(f"wrote {path.resolve()}")
    return 0


_COMMANDS = {
    "colorize": _colorize,
    "models": _models,
    "evaluate": _evaluate,
    "train": _train,
    "finetune": _finetune,
    "export": _export,
}


# a library keyword with its value: model='guided', resume=False, tile_size=7
_KEYWORD = re.compile(r"""\b([a-z][a-z_]*)=(?:'([^']*)'|"([^"]*)"|([\w.+-]+))""")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every subcommand's options by destination name (``tile_size`` -> ``--tile-size``)."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.update(_options(sub))
        elif action.option_strings:
            found.setdefault(action.dest, action)
    return found


def in_cli_terms(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message in the command's words: ``model='guided'`` -> ``--model guided``.

    ``resume=False`` becomes ``--no-resume`` and ``temporal=True`` ``--temporal``;
    keywords that are no option stay as they are.
    """
    options = _options(parser)

    def option(match: re.Match) -> str:
        name = match.group(1)
        value = next(v for v in match.groups()[1:] if v is not None)
        negated = options.get(f"no_{name}")
        if value == "False" and negated is not None and negated.const is True:
            return negated.option_strings[-1]
        action = options.get(name)
        if action is None:
            return match.group(0)
        flag = action.option_strings[-1]
        if action.const is True and action.nargs == 0:  # a flag: temporal=True
            return flag if value == "True" else match.group(0)
        return f"{flag} {value}"

    text = _KEYWORD.sub(option, message)
    return re.sub(r"(--[\w-]+(?: [^\s()]+)?) \(\1\)", r"\1", text)  # "--x (--x)" once


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``colorgan``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)

    def warning_line(message, category, filename, lineno, file=None, line=None) -> None:
        """A warning as one line, as errors are: ``colorgan: warning: ...``."""
        print(f"colorgan: warning: {in_cli_terms(str(message), parser)}", file=sys.stderr)

    try:
        with warnings.catch_warnings(), logging_to(args.verbose, args.log_file):
            warnings.showwarning = warning_line
            try:
                return _COMMANDS[args.command](args)
            except (KeyboardInterrupt, *USER_ERRORS):
                log_error(sys.exc_info()[1])  # the traceback, for --verbose / --log-file
                raise
            except Exception as err:  # a fault of ours: one line, the traceback in the log
                print(f"colorgan: error: {log_error(err)}", file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        print("colorgan: interrupted (a zarr output resumes when run again)", file=sys.stderr)
        return 130
    # WeightsError is a ValueError; MemoryError carries the remedy; RuntimeError covers
    # devices that fail at run time and a diverged training run
    except (ValueError, OSError, MemoryError, RuntimeError, ImportError) as err:
        # a library message naming its keyword (resume=False) has the CLI's words too
        message = getattr(err, "cli_message", None) or str(err) or type(err).__name__
        print(f"colorgan: error: {in_cli_terms(message, parser)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
