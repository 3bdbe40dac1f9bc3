"""The backend switch (MINIDL_BACKEND), host/device helpers, and the seeded generators."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from minidl import backend, random


def import_minidl(value):
    env = dict(os.environ, MINIDL_BACKEND=value)
    return subprocess.run([sys.executable, "-c", "import minidl; print(minidl.backend.name)"],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value", ["torch", "gpu", ""])
def test_an_unknown_backend_names_the_variable_the_choices_and_the_gpu_extra(value):
    result = import_minidl(value)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: MINIDL_BACKEND=")
    for part in [repr(value), "numpy", "cupy", "minidl[gpu]"]:
        assert part in last


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cupy_without_cupy_names_the_variable_the_choices_and_the_gpu_extra():
    result = import_minidl("cupy")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: MINIDL_BACKEND=cupy needs CuPy")
    for part in ["numpy", "minidl[gpu]"]:
        assert part in last


@pytest.mark.parametrize("value", ["numpy", " NumPy "])
def test_numpy_is_selected_explicitly(value):
    result = import_minidl(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_the_default_backend_is_numpy():
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_BACKEND"}
    result = subprocess.run([sys.executable, "-c", "import minidl; print(minidl.backend.name)"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "numpy", result.stderr


host_only = pytest.mark.skipif(backend.on_gpu, reason="checks the NumPy backend's host arrays")


@host_only
def test_host_helpers():
    assert backend.name == "numpy" and backend.xp is np and not backend.on_gpu
    a = np.arange(3.0)
    assert backend.asnumpy(a) is a
    np.testing.assert_array_equal(backend.asnumpy([1, 2]), [1, 2])
    moved = backend.to_device([1, 2], dtype=np.float32)
    assert isinstance(moved, np.ndarray) and moved.dtype == np.float32
    assert backend.to_device(a) is a
    assert backend.get_array_module(a) is np
    assert backend.is_backend_array(a) and not backend.is_backend_array([1.0])
    assert backend.check_on_backend(a, "here") is a


@host_only
def test_scatter_add_sums_repeated_indices():
    target = np.zeros((3, 2))
    backend.scatter_add(target, np.array([0, 2, 0, 0]), np.ones((4, 2)))
    np.testing.assert_array_equal(target, [[3, 3], [0, 0], [1, 1]])
    backend.scatter_add(target, (slice(None), 1), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(target, [[3, 4], [0, 2], [1, 4]])
    backend.scatter_add(target, (np.array([1, 1]), np.array([0, 0])), np.array([5.0, 6.0]))
    assert target[1, 0] == 11


@host_only
def test_as_strided_is_a_view_with_the_given_strides():
    a = np.arange(10.0)
    view = backend.as_strided(a, (4, 3), (16, 8))
    np.testing.assert_array_equal(view, [[0, 1, 2], [2, 3, 4], [4, 5, 6], [6, 7, 8]])
    assert np.shares_memory(view, a)


# --------------------------------------------------------------------- random
def test_manual_seed_repeats_every_draw():
    random.manual_seed(11)
    first = (random.uniform((5,), -1, 2, np.float64), random.normal((5,), 3, 0.5),
             random.host_generator().permutation(10))
    random.manual_seed(11)
    second = (random.uniform((5,), -1, 2, np.float64), random.normal((5,), 3, 0.5),
              random.host_generator().permutation(10))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    random.manual_seed(12)
    assert not np.array_equal(first[0], random.uniform((5,), -1, 2, np.float64))


def test_the_host_generator_does_not_disturb_tensor_draws():
    random.manual_seed(3)
    expected = random.normal((4,))
    random.manual_seed(3)
    random.host_generator().permutation(100)
    np.testing.assert_array_equal(random.normal((4,)), expected)
    assert isinstance(random.host_generator(), np.random.Generator)
    assert random.generator() is not random.host_generator()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_normal_draw_in_the_dtype_with_the_right_statistics(dtype):
    random.manual_seed(0)
    u = random.uniform((100_000,), 2.0, 5.0, dtype)
    n = random.normal((100_000,), -1.0, 0.5, dtype)
    assert u.dtype == dtype and n.dtype == dtype
    assert 2.0 <= u.min() and u.max() < 5.0 and abs(u.mean() - 3.5) < 0.01
    assert abs(n.mean() + 1.0) < 0.01 and abs(n.std() - 0.5) < 0.005
    assert random.uniform((3,)).dtype == np.float32 and random.normal((3,)).dtype == np.float32


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError),
                                         (None, TypeError)])
def test_manual_seed_rejects_anything_but_a_non_negative_integer(seed, error):
    with pytest.raises(error, match="manual_seed: seed must be an integer"):
        random.manual_seed(seed)


def test_manual_seed_accepts_numpy_integers():
    random.manual_seed(np.int64(4))
    a = random.normal((3,))
    random.manual_seed(4)
    np.testing.assert_array_equal(a, random.normal((3,)))
