"""The tutorial notebooks: each runs top to bottom in a fresh kernel, in quick mode, within its time budget,
and each is stored without outputs.

Every tutorials/*.ipynb is found and executed in memory with nbclient, in a temporary working directory, under
MINIDL_QUICK=1 and MPLBACKEND=Agg; nothing is written back to tutorials/. A failing `assert` or any other error in
a cell fails the test and names the cell.
"""
import pathlib
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = pathlib.Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
BUDGET_S = 60  # per notebook in quick mode, kernel start included; also the limit for any single cell


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: code cell {index} is stored with outputs or an execution count; clear them "
                f"before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # one BLAS thread per kernel: on a busy machine OpenBLAS's spinning threads make the small products
    # of these lessons tens of times slower, and the time budget is about the lessons, not the scheduler
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    # look for the 'python3' kernel spec of this interpreter's environment first, so the kernel runs the
    # Python (and the minidl) that runs the tests
    monkeypatch.setenv("JUPYTER_PATH", str(pathlib.Path(sys.prefix) / "share" / "jupyter"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.0f} s in quick mode; the budget is {BUDGET_S} s"
