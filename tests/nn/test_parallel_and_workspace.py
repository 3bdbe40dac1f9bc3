"""Copies split over threads (minidl.nn.parallel) and scratch arrays laid out like their model
(minidl.nn.workspace.like): the same bits as the plain operations, whatever the memory order."""
import threading

import numpy as np
import pytest

from minidl.nn import parallel, workspace

rng = np.random.default_rng(3)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_split_copy_equals_the_plain_copy_for_any_memory_order(threads, monkeypatch):
    monkeypatch.setattr(parallel, "threads", threads)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)  # split even these small arrays
    source = rng.standard_normal((5, 4, 7, 6)).astype(np.float32)
    for view in [source, source.transpose(1, 0, 2, 3), source[:, :, ::2, 1::2], source.transpose(3, 2, 1, 0)]:
        destination = np.full(view.shape, np.nan, dtype=np.float32)
        assert parallel.copyto(destination, view) is destination
        np.testing.assert_array_equal(destination, view)


def test_split_copy_broadcasts_and_handles_an_empty_or_zero_dimensional_array(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "threads", 2)
    destination = np.empty((4, 3))
    np.testing.assert_array_equal(parallel.copyto(destination, np.arange(3.0)), np.tile(np.arange(3.0), (4, 1)))
    assert parallel.copyto(np.empty((0, 3)), np.empty((0, 3))).shape == (0, 3)
    assert parallel.copyto(np.empty(()), np.array(2.5)) == 2.5


def test_large_copies_run_on_several_threads_and_limited_keeps_them_on_one(monkeypatch):
    seen = set()

    class Recording(np.ndarray):  # an ndarray whose element writes note the thread
        def __setitem__(self, key, value):
            seen.add(threading.get_ident())
            super().__setitem__(key, value)

    monkeypatch.setattr(parallel, "threads", 2)
    big = rng.standard_normal((64, 128, 64)).transpose(2, 1, 0)  # 4 MiB, strided
    destination = np.empty(big.shape).view(Recording)
    parallel.copyto(destination, big)
    assert len(seen) == 2 and threading.get_ident() in seen
    np.testing.assert_array_equal(destination, big)
    seen.clear()
    with parallel.limited(1):
        parallel.copyto(destination, big)
    assert seen == {threading.get_ident()}
    seen.clear()
    parallel.copyto(destination, big)
    assert len(seen) == 2  # the cap ended with the block


def test_limited_caps_the_calling_thread_only_and_nests(monkeypatch):
    monkeypatch.setattr(parallel, "threads", 4)
    cap = lambda: getattr(parallel._limit, "threads", None)  # noqa: E731
    seen = []
    with parallel.limited(1):
        with parallel.limited(2):  # nested: the tighter cap stays
            assert cap() == 1
            other = threading.Thread(target=lambda: seen.append(cap()))
            other.start()
            other.join()
        assert cap() == 1
    assert cap() is None and seen == [None]  # another thread never saw this thread's cap
    assert parallel.threads == 4


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_copies_on_threads_of_its_own(monkeypatch):
    import multiprocessing
    monkeypatch.setattr(parallel, "threads", 2)
    big = rng.standard_normal((64, 128, 64)).transpose(2, 1, 0)
    parallel.copyto(np.empty(big.shape), big)  # the parent's pool exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:  # a hang here is the failure
        result = pool.apply_async(_copy_in_child, (big,))
        np.testing.assert_array_equal(result.get(timeout=60), big)


def _copy_in_child(source):
    return parallel.copyto(np.empty(source.shape), source)


def test_like_keeps_the_memory_order_shape_and_dtype():
    channel_major = np.empty((16, 32, 40, 40), np.float32).transpose(1, 0, 2, 3)  # 3.3 MB: from the pool
    scratch = workspace.like(channel_major)
    assert scratch.shape == channel_major.shape and scratch.strides == channel_major.strides
    assert workspace.like(channel_major, np.int32).dtype == np.int32
    strided = channel_major[:, :, ::2, ::2]
    assert workspace.like(strided).strides == (400 * 4, 32 * 400 * 4, 20 * 4, 4)  # compact, same order
    small = np.empty((3, 4)).T
    assert workspace.like(small).shape == (4, 3) and workspace.like(small).strides == small.strides
    assert workspace.like(np.empty(())).shape == ()


def test_like_never_hands_out_an_array_still_in_use():
    x = np.empty((16, 32, 40, 40), np.float32)
    first = workspace.like(x)
    second = workspace.like(x)
    assert not np.shares_memory(first, second)
    del first
    third = workspace.like(x)
    assert not np.shares_memory(third, second)
