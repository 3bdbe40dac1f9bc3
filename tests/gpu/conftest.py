"""The tests in this folder run the core on CuPy: only with MINIDL_BACKEND=cupy and a CUDA GPU.

Run them with ``MINIDL_BACKEND=cupy python -m pytest tests/gpu`` (after ``pip install 'minidl[gpu]'``).
Each test computes its reference with plain NumPy on the host, never by switching the backend.
"""
import pytest

from minidl import backend

REASON = "GPU tests need MINIDL_BACKEND=cupy and a CUDA GPU (pip install 'minidl[gpu]')"


@pytest.fixture(autouse=True)
def _gpu_only():
    if not backend.on_gpu:
        pytest.skip(REASON)
