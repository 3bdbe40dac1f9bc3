import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from minidl import files
from minidl.files import remove_stale_temporaries, write_atomically

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith(".partial-"))


@pytest.mark.parametrize("content, expected", [("é\n", "é\n".encode()), (b"\x00\xff", b"\x00\xff"),
                                               (lambda stream: stream.write(b"abc"), b"abc")])
def test_content_arrives_whole(tmp_path, content, expected):
    target = tmp_path / "new" / "file.bin"
    assert write_atomically(target, content) == str(target)
    assert target.read_bytes() == expected and leftovers(target.parent) == []


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "weights.npz"
    write_atomically(target, b"old")

    def fails(stream):
        stream.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomically(target, fails)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


@pytest.mark.parametrize("umask, expected", [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_a_new_file_respects_the_umask(tmp_path, umask, expected):
    previous = os.umask(umask)
    try:
        write_atomically(tmp_path / "a.csv", "x")
    finally:
        os.umask(previous)
    assert mode_of(tmp_path / "a.csv") == expected


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_atomically(target, "new")
    assert target.read_text() == "new" and mode_of(target) == 0o640


def test_a_read_only_file_is_not_replaced(tmp_path):
    target = tmp_path / "keep.npz"
    target.write_bytes(b"precious")
    os.chmod(target, 0o444)
    with pytest.raises(PermissionError, match=f"write_atomically: {target} is read-only .mode 444"):
        write_atomically(target, b"overwritten")
    assert target.read_bytes() == b"precious" and mode_of(target) == 0o444 and leftovers(tmp_path) == []


def test_a_permission_error_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    real_open = os.open

    def refusing_open(name, *args, **kwargs):
        if os.path.basename(name).startswith(".partial-"):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", refusing_open)
    with pytest.raises(PermissionError) as raised:
        write_atomically(tmp_path / "out.csv", "x")
    assert raised.value.filename == str(tmp_path / "out.csv")
    assert f"cannot write {tmp_path / 'out.csv'}: its folder refuses new files" in str(raised.value)
    assert ".partial-" not in str(raised.value)


def dead_pid():
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path):
    host = files._HOST
    stale = tmp_path / f".partial-{host}.{dead_pid()}.0a1b2c"
    alive = tmp_path / f".partial-{host}.{os.getppid()}.0a1b2c"
    elsewhere = tmp_path / f".partial-{host}x.{dead_pid()}.0a1b2c"
    unrelated = tmp_path / ".partial-notes.txt"
    for path in (stale, alive, elsewhere, unrelated):
        path.write_bytes(b"")
    assert remove_stale_temporaries(tmp_path) == [str(stale)]
    assert leftovers(tmp_path) == sorted(p.name for p in (alive, elsewhere, unrelated))


WRITER = textwrap.dedent("""
    import sys, time
    from minidl.files import write_atomically
    target, mode = sys.argv[1], sys.argv[2]
    write_atomically(target, b"A" * 1_000_000)
    def slow(stream):
        stream.write(b"B" * 500_000)
        stream.flush()
        print("mid-write", flush=True)
        time.sleep(60)
        stream.write(b"B" * 500_000)
    if mode == "pause":
        write_atomically(target, slow)
    else:
        for k in range(10 ** 6):
            write_atomically(target, bytes([65 + k % 2]) * 1_000_000)
            if k == 0:
                print("looping", flush=True)
""")


def start_writer(target, mode):
    environment = dict(os.environ, PYTHONPATH=REPOSITORY)
    return subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode], stdout=subprocess.PIPE,
                            env=environment)


def test_sigkill_mid_write_leaves_the_old_file_and_the_next_write_cleans_up(tmp_path):
    target = tmp_path / "weights.bin"
    writer = start_writer(target, "pause")
    try:
        assert writer.stdout.readline() == b"mid-write\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert len(leftovers(tmp_path)) == 1  # SIGKILL skipped every cleanup: the half file is there
    assert target.read_bytes() == b"A" * 1_000_000  # the target is still the previous whole file
    write_atomically(tmp_path / "other.csv", "x")
    assert leftovers(tmp_path) == []
    assert target.read_bytes() == b"A" * 1_000_000


def test_sigkill_at_any_moment_of_a_write_loop_leaves_whole_files(tmp_path):
    target = tmp_path / "weights.bin"
    for trial in range(3):
        writer = start_writer(target, "loop")
        try:
            assert writer.stdout.readline() == b"looping\n"
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        write_atomically(tmp_path / "other.csv", "x")
        assert leftovers(tmp_path) == []
        content = target.read_bytes()
        assert content in (b"A" * 1_000_000, b"B" * 1_000_000)


def test_a_folder_as_target_is_named(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"cannot write {tmp_path}: it is a folder"):
        files.write_atomically(tmp_path, b"x")
    assert os.listdir(tmp_path) == []
