"""benchmarks/gpu_check.py: without a GPU it imports, says so and exits cleanly."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script measures for minutes")
def test_without_a_gpu_it_exits_cleanly_with_a_message():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no CUDA device here" in out.stdout
