"""Writes the student versions of the tutorials: tutorials/student/NN_*.ipynb, with every blank emptied.

The notebooks in tutorials/ are the solved ones. A blank is a code cell tagged "solution" (an nbformat cell tag,
the convention of nbgrader) in which the learner's part lies between a line `# BEGIN SOLUTION` and a line
`# END SOLUTION` (nbgrader's `### BEGIN SOLUTION` is accepted too). The BEGIN line may say what to write after a
colon:

    def velocity_step(v, g, mu):
        # BEGIN SOLUTION: the new velocity, mu * v + g
        return mu * v + g
        # END SOLUTION

The student version replaces each region, both marker lines included, by one line at the BEGIN line's indentation,

        raise NotImplementedError('blank: the new velocity, mu * v + g')

and keeps everything else (the def line, the comments, the tags, the grader cell after it); outputs and execution
counts are cleared. Run from anywhere:

    python tutorials/make_student.py

tests/test_tutorials.py checks that the committed student versions are exactly what this script writes, and that
executing a student version makes every grader cell fail.
"""
import pathlib
import re

import nbformat

from minidl.files import write_atomically

TUTORIALS = pathlib.Path(__file__).resolve().parent
STUDENT = TUTORIALS / "student"
BEGIN = re.compile(r"^(\s*)#+ BEGIN SOLUTION(?::\s*(.*\S))?\s*$")  # nbgrader writes ### BEGIN SOLUTION
END = re.compile(r"^\s*#+ END SOLUTION\s*$")
DEFAULT_HINT = "write the part between the markers described in this cell"


def blank_out(source, where="blank_out"):
    """The source of a solution cell with each `# BEGIN SOLUTION` ... `# END SOLUTION` region replaced by a raise.

    Raises:
        ValueError: when the cell has no region, a BEGIN without its END, an END without a BEGIN, or nested BEGINs.
    """
    lines, region_start, regions = [], None, 0
    for number, line in enumerate(source.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if region_start is not None:
                raise ValueError(f"{where}: line {number} opens a solution region inside the one opened on line "
                                 f"{region_start}; expected '# END SOLUTION' first")
            region_start, regions = number, regions + 1
            hint = begin.group(2) or DEFAULT_HINT
            lines.append(f"{begin.group(1)}raise NotImplementedError({'blank: ' + hint!r})")
        elif end:
            if region_start is None:
                raise ValueError(f"{where}: line {number} closes a solution region that was never opened; "
                                 f"expected '# BEGIN SOLUTION' before it")
            region_start = None
        elif region_start is None:
            lines.append(line)
    if region_start is not None:
        raise ValueError(f"{where}: the solution region opened on line {region_start} is never closed; expected "
                         f"a line '# END SOLUTION'")
    if regions == 0:
        raise ValueError(f"{where}: a cell tagged 'solution' has no '# BEGIN SOLUTION' ... '# END SOLUTION' "
                         f"region")
    return "\n".join(lines)


def student_version(notebook, name="notebook"):
    """A copy of a solved notebook (nbformat v4) with every solution region blanked and every output cleared.

    Raises:
        ValueError: when a solution cell's markers are malformed (see blank_out), or a solution cell is not
            followed directly by a code cell tagged "grader".
    """
    student = nbformat.reads(nbformat.writes(notebook), as_version=4)  # a deep copy
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if "solution" in cell.metadata.get("tags", []):
            following = student.cells[index + 1] if index + 1 < len(student.cells) else None
            if following is None or "grader" not in following.metadata.get("tags", []):
                raise ValueError(f"student_version: {name} cell {index} is tagged 'solution' but the next cell is "
                                 f"not a code cell tagged 'grader'")
            cell.source = blank_out(cell.source, where=f"student_version: {name} cell {index}")
    return student


def student_text(path):
    """The text of the student version of the solved notebook at `path`, as make_student.py writes it."""
    return nbformat.writes(student_version(nbformat.read(path, as_version=4), name=path.name)) + "\n"


def solved_notebooks():
    """The solved notebooks, tutorials/NN_*.ipynb, in order."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def main():
    STUDENT.mkdir(exist_ok=True)
    for stale in set(STUDENT.glob("*.ipynb")) - {STUDENT / path.name for path in solved_notebooks()}:
        stale.unlink()
    for path in solved_notebooks():
        write_atomically(STUDENT / path.name, student_text(path))
        print(f"wrote {(STUDENT / path.name).relative_to(TUTORIALS.parent)}")


if __name__ == "__main__":
    main()
