"""Atomic file writes: a file either appears whole or not at all.

Everything minidl writes (weights, CSV records, figures, reports) goes through :func:`write_atomically`:
the content is written to a temporary file in the target's folder and renamed into place, so an
interrupted run leaves the previous file (or none), never half of one.
"""
import os
import tempfile


def write_atomically(path, content):
    """Write ``content`` to ``path`` atomically and return the absolute path.

    Args:
        path: the file to write; its folder is created if missing.
        content: a str (written as UTF-8), bytes, or a callable that writes to a binary stream.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(temporary, 0o644)  # mkstemp makes the file private; results are for reading
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
