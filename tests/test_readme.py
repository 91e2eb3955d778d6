"""The README as a newcomer follows it: its runnable blocks run, its figures are today's.

A fenced block preceded by ``<!-- runnable -->`` runs here as pasted, in a scratch folder
that holds ``sample_data/`` as the repository root does. Every Python block, runnable or
not, uses only names it defines. The figures the README quotes are checked against what
produced them: the weights' recorded held-out metrics, the transfer experiment's record,
and a recomputation where one is cheap.
"""

import ast
import builtins
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import tifffile

import napari_colorgan as ncg

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARK = "<!-- runnable -->"


def _blocks() -> list[tuple[str, str, bool, int]]:
    """Every fenced block as (language, code, marked runnable, line number)."""
    lines, found, i = README.splitlines(), [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence and fence.group(1):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            marked = i > 0 and lines[i - 1].strip() == MARK
            found.append((fence.group(1), "\n".join(lines[i + 1 : end]), marked, i + 1))
            i = end
        i += 1
    return found


BLOCKS = _blocks()
RUNNABLE = [(lang, code, line) for lang, code, marked, line in BLOCKS if marked]


def _ids(blocks) -> list[str]:
    return [f"{block[0]}-line{block[-1]}" for block in blocks]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A folder like the repository root: ``sample_data/`` in it, ``out/`` free to write."""
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_marks_are_on_python_and_bash_blocks():
    assert {lang for lang, _, _ in RUNNABLE} == {"python", "bash"}
    marks = [line for line in README.splitlines() if line.strip() == MARK]
    assert len(marks) == len(RUNNABLE)  # no mark stands before a non-block


@pytest.mark.parametrize(
    "code, line",
    [(code, line) for lang, code, line in RUNNABLE if lang == "python"],
    ids=[f"line{line}" for lang, _, line in RUNNABLE if lang == "python"],
)
def test_python_block_runs_as_pasted(scratch, code, line):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize(
    "code, line",
    [(code, line) for lang, code, line in RUNNABLE if lang == "bash"],
    ids=[f"line{line}" for lang, _, line in RUNNABLE if lang == "bash"],
)
def test_bash_block_runs_as_pasted(scratch, code, line):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"README.md:{line}\n{run.stderr[-2000:]}"
    assert "Traceback" not in run.stderr


def _undefined(code: str) -> set[str]:
    """Names a block reads that it neither binds nor imports (builtins aside)."""
    tree = ast.parse(code)
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound


@pytest.mark.parametrize(
    "code", [code for lang, code, _, _ in BLOCKS if lang == "python"],
    ids=[f"line{line}" for lang, _, _, line in BLOCKS if lang == "python"],
)
def test_python_blocks_define_every_name(code):
    assert not _undefined(code)


def test_ci_runs_the_readme_test_command_under_xvfb():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_CMD='(.+)'$", ci, re.M).group(1)
    assert f"```bash\n{command}\n```" in README
    assert re.search(r'^xvfb-run .*"\$TEST_CMD"', ci, re.M)


def test_the_suite_needs_no_display(tmp_path):
    """The test command on a machine without a display: a viewer test passes (or, with
    no Xvfb installed, is skipped saying why); Qt never aborts the run."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    test = "tests/test_napari.py::test_samples_open"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "--no-cov",
         "-rs", "--basetemp", str(tmp_path / "run")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout or "no display and no Xvfb" in run.stdout


def test_menu_paths_are_napari_s():
    """The README's and the warning's menu paths are the manifest's display names."""
    from npe2 import PluginManifest

    from napari_colorgan.models import domain
    from napari_colorgan.models.registry import load_model

    manifest = PluginManifest.from_distribution("napari-colorgan")
    plugin = manifest.display_name
    for widget in manifest.contributions.widgets:
        assert f"Plugins → {plugin} → {widget.display_name}" in README
        assert f"Plugins → {widget.display_name}" not in README
    assert f"File → Open Sample → {plugin}" in README
    nuclei = tifffile.imread(ROOT / "sample_data" / "nuclei3d.tif")
    saved = domain._warned
    domain._warned = set()
    try:
        with pytest.warns(domain.DomainWarning) as caught:
            domain.check_domain(load_model("astronomy", "cpu"), nuclei, (0.0, 65535.0))
    finally:
        domain._warned = saved
    assert f"Plugins > {plugin} > Fine-tune" in str(caught[0].message)


# the README's held-out table: its row label -> (model, held-out set as `colorgan models` names it)
HELDOUT_ROWS = {
    ("H&E slide, bottom half", "histology"): "cmu_small_region.svs rows=0.5-1",
    ("IHC, bottom half", "histology"): "immunohistochemistry rows=0.5-1",
    ("IHC, bottom half", "general"): "immunohistochemistry rows=0.5-1",
    ("Hubble, right 40 %", "astronomy"): "hubble_deep_field cols=0.6-1",
    ("retina, bottom half", "general"): "retina rows=0.5-1",
    ("flower.jpg (photograph)", "general"): "flower.jpg",
    ("carphone frames 60-119 (video)", "general"): "carphone_pristine.mp4 frames=0.5-1 every=15",
}


def _recorded(model: str) -> tuple[dict, dict]:
    """A shipped model's provenance and its L1 baseline's held-out metrics, by short name."""
    from napari_colorgan.models.catalogue import short_name
    from napari_colorgan.models.registry import read_metadata, resolve, shipped_regression

    prov = read_metadata(resolve(model))["provenance"]
    l1 = read_metadata(shipped_regression(model))["provenance"]["heldout_metrics"]
    return prov, {short_name(k): v for k, v in l1.items()}


def test_heldout_table_is_the_weights_record():
    from napari_colorgan.models.catalogue import short_name

    rows = re.findall(r"^\| (.+?) \| `(\w+)` \|((?: [*\d./ ]+ \|){5})$", README, re.M)
    assert {(label, model) for label, model, _ in rows} == set(HELDOUT_ROWS)
    for label, model, cells in rows:
        prov, l1 = _recorded(model)
        parts = {short_name(k): k for k in prov["heldout_metrics"]}
        part = parts[HELDOUT_ROWS[label, model]]
        m, base = prov["heldout_metrics"][part], prov["heldout_baselines"][part]
        short = HELDOUT_ROWS[label, model]
        want = [
            f"{m['delta_e2000']:.2f}",
            f"{l1[short]['delta_e2000']:.2f}",
            f"{base['gray']['delta_e2000']:.2f}",
            f"{base['mean-chroma']['delta_e2000']:.2f}",
            f"{m['colorfulness_ratio']:.2f} / {l1[short]['colorfulness_ratio']:.2f}",
        ]
        got = [c.strip().strip("*") for c in cells.strip(" |").split("|")]
        assert got == want, (label, model)


def test_recipe_table_and_sizes_are_the_weights():
    from napari_colorgan.models.catalogue import generator_parameters
    from napari_colorgan.models.registry import read_metadata, resolve

    for name in ncg.list_models():
        steps = read_metadata(resolve(name))["provenance"]["steps"]
        row = re.search(rf"^\| `{name}` \|.*\|(.*)\|$", README, re.M).group(1)
        assert f" {steps} steps" in row, name
    params = generator_parameters(resolve("general")) / 1e6
    assert f"`lite` ({params:.2f} M parameters)" in README
    size = resolve("general").stat().st_size / 1e6
    assert f"{size:.1f} MB" in README


def test_transfer_figures_are_the_recorded_run():
    """The fine-tune figures are what training/transfer_evidence.py recorded."""
    record = json.loads((ROOT / "training" / "logs" / "transfer_evidence.json").read_text())
    rows = record["rows"]

    def arm(name: str) -> str:
        de = [rows[f"{name}, seed {s}"]["delta_e2000"] for s in range(3)]
        return f"{np.mean(de):.2f} ± {np.std(de):.2f}"

    assert f"ΔE2000 {arm('fine-tuned')} against {arm('from scratch')} over 3 seeds" in README
    assert f"(gray: {rows['gray (ab = 0)']['delta_e2000']:.2f};" in README
    ihc = record["ihc"]["rows"]
    for base, text in (("histology", "scores **{mean}**\nΔE2000 ({lo} to {hi})"),
                       ("general", "it scores {mean} ({lo} to {hi})")):
        de = [ihc[f"{base} fine-tuned 150 steps, seed {s}"]["delta_e2000"] for s in range(3)]
        figures = {"mean": f"{np.mean(de):.2f}", "lo": f"{min(de):.2f}", "hi": f"{max(de):.2f}"}
        assert text.format(**figures) in README, base
    assert f"`histology` itself ({ihc['histology (shipped)']['delta_e2000']:.2f})" in README


def test_gray_from_colour_keeps_its_lightness_figure():
    """`colorize(to_gray(rgb))` on held-out IHC with general: the two ΔE2000 the README gives."""
    rgb = skimage.data.immunohistochemistry()[256:]
    gray = ncg.to_gray(rgb)
    kept, stretched = (
        ncg.metrics.evaluate(ncg.colorize(gray, "general", normalize=n), rgb)["delta_e2000"]
        for n in ("auto", "percentiles")
    )
    assert f"ΔE2000\n  {kept:.2f}, not {stretched:.2f} stretched" in README


def test_general_warns_on_pixel_noise_only_as_the_readme_says():
    from napari_colorgan.models.domain import DOMAIN_LIMIT, domain_distance, middle_view
    from napari_colorgan.io.scaling import intensity_range
    from napari_colorgan.models.registry import load_model

    net = load_model("general", "cpu")
    rng = np.random.default_rng(0)
    noise = [domain_distance(net, rng.random((n, n)).astype(np.float32)) for n in (64, 128, 256)]
    assert all(DOMAIN_LIMIT < d and 5.15 <= d <= 6.05 for d in noise), noise
    assert "uniform noise 64 to 256 px a side scores 5.2 to 6.0" in README.replace("\n  ", " ")
    samples = [iio.imread(ROOT / "sample_data" / f) for f in ("he_skin.png", "ihc_bottom.png")]
    samples.append(tifffile.imread(ROOT / "sample_data" / "nuclei3d.tif"))
    scores = [domain_distance(net, middle_view(s, intensity_range(s))) for s in samples]
    assert max(scores) <= 2.35 < DOMAIN_LIMIT, scores
    assert "the samples in `sample_data/` 0.7 to 2.3" in README.replace("\n  ", " ")


def test_onnx_matches_the_library_as_the_readme_says(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = ncg.export_model("histology", tmp_path / "h.onnx", format="onnx")
    gray = (iio.imread(ROOT / "sample_data" / "he_skin.png")[:512, :512] / 255).astype(np.float32)
    (rgb,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["rgb"], {"gray": gray[None, None]}
    )
    expected = ncg.colorize(gray, "histology", normalize="none", precision="float32")
    assert np.abs(rgb[0].transpose(1, 2, 0) - expected).max() < 2e-4
    assert "below 2e-4" in README
