"""The Makefile's `make test` installs what the README says: minidl's test extras and PyTorch's CPU build
(PyPI's torch wheel for Linux pulls in gigabytes of CUDA libraries)."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_installs_the_cpu_build_of_pytorch():
    commands = subprocess.run(["make", "-nB", "setup"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.splitlines()
    torch = [line for line in commands if "pip install" in line and "torch" in line]
    assert len(torch) == 1 and torch[0].split()[-2:] == ["--index-url", "https://download.pytorch.org/whl/cpu"]
