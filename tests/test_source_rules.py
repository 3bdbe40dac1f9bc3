"""Source rules, checked on the syntax tree: only backend.py imports CuPy, and compute modules never call
NumPy functions on device data (which would fail, or silently copy, under CuPy).

The core compute modules may call only a short list of host-safe NumPy functions. The analysis modules
work on the host by design (they move results there with backend.asnumpy, then use NumPy freely), so
for them the rule is narrower: no NumPy call may be handed a Tensor's ``.data`` or ``.grad`` directly."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["minidl", "data_tools"]
BACKEND = "minidl/backend.py"  # the host/device boundary: the one module allowed cupy and numpy.asarray
COMPUTE = ["minidl/autograd.py", "minidl/nn", "minidl/optim", "minidl/init.py", "minidl/train.py",
           "minidl/random.py"]
HOST_SIDE = ["minidl/analysis"]
DEVICE_ATTRIBUTES = {"data", "grad"}  # a Tensor's backend arrays
METADATA = {"shape", "ndim", "size", "dtype"}  # host facts about an array, safe to hand to NumPy

# numpy functions a compute module may call: none of them takes or makes a device array.
HOST_SAFE = {
    "dtype", "float32", "float64",  # dtype objects and scalar types given as dtype arguments
    "issubdtype",  # integer / floating type checks
    "prod",  # products over shape tuples (sizes, fans)
    "atleast_1d",  # normalizing an axis argument (an int or a tuple of ints) to a tuple
    "argsort",  # inverting a transpose's axes tuple
    "errstate",  # silencing floating-point warnings of a branch that a where() discards
    "random.default_rng",  # the host generator that orders data rows (random.py)
}
HOST_SAFE_IN = {  # per-file additions to HOST_SAFE, each with its reason
    "minidl/random.py": {"nextafter"},  # rounding truncation bounds (host scalars) inward to a dtype
}


def python_files(*parts):
    files = []
    for part in parts:
        path = ROOT / part
        files.extend([path] if path.suffix == ".py" else sorted(path.rglob("*.py")))
    return [f for f in files if f.exists()]


def relative(path):
    return path.relative_to(ROOT).as_posix()


def cupy_imports(source):
    """Line numbers where ``source`` imports cupy or cupyx, statically or through importlib/__import__."""
    lines = []
    is_cupy = lambda name: name.split(".")[0] in ("cupy", "cupyx")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(is_cupy(a.name) for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and is_cupy(node.module):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = dotted(node.func)
            if name in ("importlib.import_module", "import_module", "__import__") and \
                    isinstance(node.args[0].value, str) and is_cupy(node.args[0].value):
                lines.append(node.lineno)
    return lines


def dotted(node):
    """'a.b.c' for an expression a.b.c, or None when it is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


def numpy_calls(source, allowed):
    """(line, 'numpy.name') for each numpy function called or imported by name that ``allowed`` lacks."""
    tree = ast.parse(source)
    aliases = {}  # local name -> the numpy path it stands for ('' for numpy itself)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "numpy" or a.name.startswith("numpy."):
                    local = a.asname or a.name.split(".")[0]
                    aliases[local] = a.name[len("numpy."):] if a.asname and a.name != "numpy" else ""
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "numpy":
            prefix = node.module[len("numpy."):] + "." if node.module != "numpy" else ""
            for a in node.names:
                if prefix + a.name not in allowed:
                    found.append((node.lineno, f"numpy.{prefix}{a.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name is None or name.split(".")[0] not in aliases:
                continue
            root, _, rest = name.partition(".")
            path = ".".join(p for p in (aliases[root], rest) if p)
            if path not in allowed:
                found.append((node.lineno, f"numpy.{path}"))
    return found


def device_data_numpy_calls(source):
    """(line, 'numpy.name') for each numpy call with an argument that reads ``.data`` or ``.grad``
    directly (not through backend.asnumpy, and not only its shape or dtype)."""
    tree = ast.parse(source)
    aliases = {a.asname or a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for a in node.names if a.name.split(".")[0] == "numpy"}

    def reads_device_data(node):
        if isinstance(node, ast.Call) and (dotted(node.func) or "").endswith("asnumpy"):
            return False
        if isinstance(node, ast.Attribute):
            if node.attr in METADATA:
                return False
            if node.attr in DEVICE_ATTRIBUTES:
                return True
        return any(reads_device_data(child) for child in ast.iter_child_nodes(node))

    found = []
    for node in ast.walk(tree):
        name = dotted(node.func) if isinstance(node, ast.Call) else None
        if name and name.split(".")[0] in aliases and \
                any(reads_device_data(a) for a in node.args + [k.value for k in node.keywords]):
            found.append((node.lineno, "numpy." + name.partition(".")[2]))
    return found


def test_the_scanned_trees_exist():
    names = {relative(f) for f in python_files(*COMPUTE)}
    assert {"minidl/autograd.py", "minidl/nn/functional.py", "minidl/optim/sgd.py", "minidl/train.py"} <= names
    assert (ROOT / BACKEND).exists() and python_files("data_tools")


def test_only_backend_imports_cupy():
    offenders = [f"{relative(f)}:{line}" for f in python_files(*SCANNED) if relative(f) != BACKEND
                 for line in cupy_imports(f.read_text())]
    assert offenders == [], "import cupy only in minidl/backend.py; use minidl.backend.xp"
    assert cupy_imports((ROOT / BACKEND).read_text()), "backend.py should be where cupy is imported"


def test_compute_modules_call_no_numpy_functions_on_device_data():
    offenders = [f"{relative(f)}:{line} {name}" for f in python_files(*COMPUTE)
                 for line, name in numpy_calls(f.read_text(), HOST_SAFE | HOST_SAFE_IN.get(relative(f), set()))]
    assert offenders == [], "compute code must use minidl.backend.xp (or extend the justified allow-list)"


def test_host_side_modules_hand_no_device_data_to_numpy():
    offenders = [f"{relative(f)}:{line} {name}" for f in python_files(*HOST_SIDE)
                 for line, name in device_data_numpy_calls(f.read_text())]
    assert offenders == [], "move device arrays to the host with minidl.backend.asnumpy first"


# --------------------------------------------------------------------- the checks themselves
@pytest.mark.parametrize("source, expected", [
    ("import numpy as np\nx = np.zeros(3)", [(2, "numpy.zeros")]),
    ("import numpy\nnumpy.linalg.svd(a)\nnumpy.prod(s)", [(2, "numpy.linalg.svd")]),
    ("import numpy.linalg as la\nla.norm(a)", [(2, "numpy.linalg.norm")]),
    ("import numpy.random\nnumpy.random.default_rng(0)\nnumpy.random.rand(2)", [(3, "numpy.random.rand")]),
    ("from numpy import exp, prod\n", [(1, "numpy.exp")]),
    ("from numpy.linalg import qr\n", [(1, "numpy.linalg.qr")]),
    ("import numpy as np\nisinstance(x, np.integer)\ny = np.float32\nz = np.dtype('f4')", []),
    ("from minidl.backend import xp\nxp.zeros(3)\nnp = xp\n", []),
])
def test_numpy_calls_flags_what_it_should(source, expected):
    assert numpy_calls(source, HOST_SAFE) == expected


@pytest.mark.parametrize("source, expected", [
    ("import numpy\nnumpy.linalg.svd(layer.weight.data)", [(2, "numpy.linalg.svd")]),
    ("import numpy as np\nnp.abs(x + p.grad * 2, out=y)", [(2, "numpy.abs")]),
    ("import numpy as np\nnp.sum(a, axis=t.data)", [(2, "numpy.sum")]),
    ("import numpy\nnumpy.abs(backend.asnumpy(t.data))", []),
    ("import numpy\nnumpy.prod(t.data.shape)\nnumpy.zeros(3, w.data.dtype)", []),
    ("import numpy\nxp.abs(t.data)\nnumpy.abs(host)", []),
])
def test_device_data_numpy_calls_flags_what_it_should(source, expected):
    assert device_data_numpy_calls(source) == expected


@pytest.mark.parametrize("source, expected", [
    ("import cupy\n", [1]), ("import cupyx.scipy\n", [1]), ("from cupy import asarray\n", [1]),
    ("import importlib\nimportlib.import_module('cupy')\n", [2]), ("x = __import__('cupyx')\n", [1]),
    ("import numpy\nfrom minidl.backend import xp\n", []), ("import cupyish\n", []),
])
def test_cupy_imports_flags_what_it_should(source, expected):
    assert cupy_imports(source) == expected
