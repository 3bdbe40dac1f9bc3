"""The tutorial notebooks: each solved notebook runs top to bottom in a fresh kernel, in quick mode, within its time
budget; each has graded blanks; its committed student version is what tutorials/make_student.py writes; and in the
student version every grader cell fails until the learner fills the blank.

Notebooks are executed in memory with nbclient, in a temporary working directory, under MINIDL_QUICK=1 and
MPLBACKEND=Agg; nothing is written back to tutorials/. A failing `assert` or any other error in a cell of a solved
notebook fails the test and names the cell.
"""
import importlib.util
import pathlib
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

TUTORIALS = pathlib.Path(__file__).resolve().parents[1] / "tutorials"
BUDGET_S = 60  # per notebook in quick mode, kernel start included; also the limit for any single cell

_spec = importlib.util.spec_from_file_location("make_student", TUTORIALS / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)

NOTEBOOKS = make_student.solved_notebooks()
STUDENT_NOTEBOOKS = sorted(make_student.STUDENT.glob("*.ipynb"))


def tagged(cell, tag):
    return tag in cell.metadata.get("tags", [])


def execute(notebook, folder, monkeypatch, allow_errors=False):
    """Runs `notebook` in place in a fresh kernel of this interpreter, in quick mode; returns the seconds taken."""
    monkeypatch.setenv("MINIDL_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # one BLAS thread per kernel: on a busy machine OpenBLAS's spinning threads make the small products
    # of these lessons tens of times slower, and the time budget is about the lessons, not the scheduler
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    # look for the 'python3' kernel spec of this interpreter's environment first, so the kernel runs the
    # Python (and the minidl) that runs the tests
    monkeypatch.setenv("JUPYTER_PATH", str(pathlib.Path(sys.prefix) / "share" / "jupyter"))
    client = NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(folder)}})
    started = time.perf_counter()
    client.execute()
    return time.perf_counter() - started


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS + STUDENT_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: code cell {index} is stored with outputs or an execution count; clear them "
                f"before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_mode(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    elapsed = execute(notebook, tmp_path, monkeypatch)
    assert elapsed < BUDGET_S, f"{path.name} took {elapsed:.0f} s in quick mode; the budget is {BUDGET_S} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_lesson(path):
    """Opens with objectives and prerequisites, has a graded blank, and ends with exercises."""
    cells = nbformat.read(path, as_version=4).cells
    opening = cells[0].source.lower()
    assert cells[0].cell_type == "markdown" and "objectives" in opening and "prerequisites" in opening, (
        f"{path.name}: the first cell should be Markdown naming the objectives and the prerequisites")
    blanks = [index for index, cell in enumerate(cells) if cell.cell_type == "code" and tagged(cell, "solution")]
    assert blanks, f"{path.name}: no code cell is tagged 'solution'; every notebook has at least one graded blank"
    assert any(cell.cell_type == "markdown" and "exercises" in cell.source.lower() for cell in cells[-3:]), (
        f"{path.name}: none of the last three cells is Markdown with the exercises")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_graders_print_the_expected_size_and_assert(path):
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if tagged(cell, "grader"):
            assert "should be" in cell.source and "assert" in cell.source, (
                f"{path.name}: grader cell {index} should print its error with the size it should have "
                f"('... (should be below 1e-8)') and assert it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_student_version_is_current(path):
    student = make_student.STUDENT / path.name
    assert student.exists(), f"{student} is missing; run python tutorials/make_student.py"
    assert student.read_text(encoding="utf-8") == make_student.student_text(path), (
        f"{student} differs from what tutorials/make_student.py writes from {path.name}; run it again")


def test_there_is_no_student_version_without_a_solved_notebook():
    orphans = sorted({path.name for path in STUDENT_NOTEBOOKS} - {path.name for path in NOTEBOOKS})
    assert not orphans, f"student versions without a solved notebook: {orphans}; run python tutorials/make_student.py"


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.name)
def test_student_graders_fail_on_the_blanks(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    graders = [index for index, cell in enumerate(notebook.cells) if tagged(cell, "grader")]
    assert graders, f"{path.name}: no cell is tagged 'grader'"
    del notebook.cells[graders[-1] + 1:]  # nothing after the last grader is checked, so nothing after it runs
    execute(notebook, tmp_path, monkeypatch, allow_errors=True)
    passing = [index for index in graders if not any(output.output_type == "error"
                                                     for output in notebook.cells[index].outputs)]
    assert not passing, (f"{path.name}: grader cells {passing} pass with the blanks empty; a grader must check the "
                         f"learner's code, not something computed before the blank")


def test_blank_out_replaces_each_region_by_a_raise():
    source = ("def step(v, g, mu):\n    v = v.copy()\n    # BEGIN SOLUTION: the velocity\n    v = mu * v + g\n"
              "    # END SOLUTION\n    return v\nx = 1\n### BEGIN SOLUTION\ny = x\n### END SOLUTION\nprint(y)")
    assert make_student.blank_out(source) == (
        "def step(v, g, mu):\n    v = v.copy()\n    raise NotImplementedError('blank: the velocity')\n    return v\n"
        f"x = 1\nraise NotImplementedError('blank: {make_student.DEFAULT_HINT}')\nprint(y)")


@pytest.mark.parametrize("source, message", [
    ("x = 1", "has no"),
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "never opened"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside the one opened on line 1"),
])
def test_blank_out_rejects_malformed_markers(source, message):
    with pytest.raises(ValueError, match=message):
        make_student.blank_out(source)


def test_student_version_needs_a_grader_after_each_blank():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("assert x == 1")])
    with pytest.raises(ValueError, match="cell 0 is tagged 'solution' but the next cell is not"):
        make_student.student_version(notebook)
    notebook.cells[1].metadata["tags"] = ["grader"]
    student = make_student.student_version(notebook)
    assert "raise NotImplementedError" in student.cells[0].source and "x = 1" not in student.cells[0].source
    assert notebook.cells[0].source.startswith("# BEGIN SOLUTION"), "the solved notebook must be left as it was"
