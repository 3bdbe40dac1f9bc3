"""Atomic file writes: a file either appears whole or not at all.

Everything minidl writes (weights, CSV records, figures, reports) goes through :func:`write_atomically`:
the content is written to a hidden temporary file in the target's folder, flushed to disk (file, then
folder) and renamed into place, so an interrupted run leaves the previous file (or none), never half of one.

A temporary file is named ``.partial-<host>.<pid>.<random>``: hidden, never with the target's extension,
so no glob for results picks it up. A process killed mid-write (SIGKILL skips every cleanup) leaves its
temporary file behind; the next write into the same folder removes it, after checking that the process
that made it is gone.
"""
import errno
import os
import re
import secrets
import socket
import stat

_PREFIX = ".partial-"
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
_TEMPORARY = re.compile(re.escape(_PREFIX) + r"(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]+")


def write_atomically(path, content):
    """Write ``content`` to ``path`` atomically and return the absolute path.

    The new file gets the permissions of the file it replaces, or for a new file the default mode 0666
    less the process umask, as ``open`` would give it. A file without write permission is not replaced.

    Args:
        path: the file to write; its folder is created if missing.
        content: a str (written as UTF-8), bytes, or a callable that writes to a binary stream.

    Raises:
        PermissionError: when ``path`` exists and is read-only, or its folder is not writable; the
            message names ``path``.
        IsADirectoryError: when ``path`` is a folder.
        OSError: any other failure to write; the target is then left as it was.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"write_atomically: cannot write {path}: it is a folder; "
                                              f"name a file inside it", path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    mode = _existing_mode(path)
    remove_stale_temporaries(folder)
    temporary = os.path.join(folder, f"{_PREFIX}{_HOST}.{os.getpid()}.{secrets.token_hex(6)}")
    try:
        # 0o666 here is reduced by the umask, exactly as for a file made by open().
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except PermissionError as error:
        raise PermissionError(error.errno, f"write_atomically: cannot write {path}: its folder refuses "
                                           f"new files ({error.strerror})", path) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        os.unlink(temporary)
        if isinstance(error, PermissionError):
            raise PermissionError(error.errno, f"write_atomically: cannot write {path} "
                                               f"({error.strerror})", path) from None
        raise
    _fsync_folder(folder)
    return path


def remove_stale_temporaries(folder):
    """Remove the temporary files in ``folder`` left by writers on this host that no longer run.

    Returns:
        the list of removed paths.
    """
    removed = []
    for entry in os.scandir(folder):
        match = _TEMPORARY.fullmatch(entry.name)
        if match and match["host"] == _HOST and not _running(int(match["pid"])):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:  # another writer cleaned it first
                continue
            removed.append(entry.path)
    return removed


def _existing_mode(path):
    """The permission bits of the file at ``path``, None when there is none; refuses a read-only one."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, f"write_atomically: {path} is read-only (mode {mode:o}); "
                                            f"make it writable or write elsewhere", path)
    return mode


def _running(pid):
    """Whether a process with this id exists on this host (assumed so where that cannot be asked)."""
    if pid == os.getpid() or os.name != "posix":  # on Windows os.kill(pid, 0) would signal the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _fsync_folder(folder):
    """Flush the folder entry of a rename to disk (POSIX; folders cannot be opened on Windows)."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
