"""A results folder: PNG figures, CSV records and JSON summaries, each file written atomically.

Every file is written atomically (minidl.files), so an interrupted run never leaves a half-written file;
nothing is written outside the folder the user names.
"""
import csv
import io
import json
import math
import os

from minidl.files import write_atomically


class RunFolder:
    """The folder an experiment writes into (created if missing). ``written`` lists the files, in order."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"RunFolder: {self.path} exists and is not a folder")
        os.makedirs(self.path, exist_ok=True)
        self.written = []

    def file(self, name):
        """Absolute path of ``name`` inside the folder (names may not climb out of it)."""
        target = os.path.abspath(os.path.join(self.path, name))
        if os.path.commonpath([target, self.path]) != self.path:
            raise ValueError(f"RunFolder: {name!r} lies outside {self.path}")
        return target

    def _write(self, name, content):
        target = write_atomically(self.file(name), content)
        self.written.append(target)
        return target

    def text(self, name, content):
        return self._write(name, content)

    def json(self, name, data):
        """Write ``data`` as JSON; NaN and infinity become null (JSON has no such numbers)."""
        return self.text(name, json.dumps(_finite(data), indent=2) + "\n")

    def csv(self, name, rows):
        """Write a list of dicts as CSV with a header: the union of their keys, in first-seen order."""
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return self.text(name, buffer.getvalue())

    def figure(self, name, figure, dpi=120):
        """Save a matplotlib figure as PNG and close it."""
        import matplotlib.pyplot as plt
        path = self._write(name, lambda stream: figure.savefig(stream, format="png", dpi=dpi,
                                                               bbox_inches="tight"))
        plt.close(figure)
        return path


def figure_grid(rows, columns, panel=(5.2, 3.8)):
    """A headless matplotlib Figure of rows x columns panels of ``panel`` inches each, and its axes as a
    (rows, columns) array (no pyplot state, so it is safe in any process)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(panel[0] * columns, panel[1] * rows))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
