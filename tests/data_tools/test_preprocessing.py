import numpy as np
import pytest

from data_tools import channel_stats, normalize, random_crop, random_horizontal_flip

IMAGES = np.random.default_rng(0).random((6, 3, 5, 7), dtype=np.float32)


def test_channel_stats_by_hand():
    X = np.zeros((2, 2, 1, 2), dtype=np.float32)
    X[:, 0] = 2.0  # channel 0: all 2
    X[0, 1] = [[0.0, 2.0]]  # channel 1: 0, 2, 4, 2 -> mean 2, std sqrt(2)
    X[1, 1] = [[4.0, 2.0]]
    mean, std = channel_stats(X)
    assert mean.dtype == np.float32 and std.dtype == np.float32
    np.testing.assert_allclose(mean, [2.0, 2.0])
    np.testing.assert_allclose(std, [0.0, np.sqrt(2)], rtol=1e-6)


def test_normalize_gives_zero_mean_unit_std_and_leaves_the_input():
    before = IMAGES.copy()
    mean, std = channel_stats(IMAGES)
    out = normalize(IMAGES, mean, std)
    assert out.dtype == np.float32 and out.shape == IMAGES.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, rtol=1e-5)
    np.testing.assert_allclose(out[1, 2], (IMAGES[1, 2] - mean[2]) / std[2], rtol=1e-6)
    np.testing.assert_array_equal(IMAGES, before)


def test_normalize_refuses_bad_stats():
    with pytest.raises(ValueError, match=r"normalize: expected mean and std of shape \(3,\)"):
        normalize(IMAGES, [0.5, 0.5], [1.0, 1.0])
    with pytest.raises(ValueError, match="std > 0"):
        normalize(IMAGES, [0.0, 0.0, 0.0], [1.0, 0.0, 1.0])


def test_crop_of_full_size_without_padding_is_identity():
    out = random_crop(IMAGES, (5, 7), padding=0, rng=np.random.default_rng(0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, IMAGES)


def test_crop_of_the_padded_size_is_the_zero_padded_image():
    out = random_crop(IMAGES, (9, 11), padding=2, rng=0)
    assert out.shape == (6, 3, 9, 11)
    np.testing.assert_array_equal(out[:, :, 2:-2, 2:-2], IMAGES)
    assert np.count_nonzero(out) == IMAGES.size


def test_crop_windows_are_windows_of_the_padded_image_and_reach_every_offset():
    X = np.arange(400 * 2 * 3 * 3, dtype=np.float32).reshape(400, 2, 3, 3) + 1
    padded = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = random_crop(X, 3, padding=1, rng=np.random.default_rng(1))
    offsets = set()
    for image, crop in zip(padded, out):
        windows = {(t, l): image[:, t:t + 3, l:l + 3] for t in range(3) for l in range(3)}
        matches = [offset for offset, window in windows.items() if np.array_equal(window, crop)]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert offsets == {(t, l) for t in range(3) for l in range(3)}


def test_crop_and_flip_are_reproducible_and_leave_the_input():
    before = IMAGES.copy()
    crops = [random_crop(IMAGES, 4, 1, rng) for rng in (np.random.default_rng(9), 9)]
    flips = [random_horizontal_flip(IMAGES, 0.5, rng) for rng in (np.random.default_rng(9), 9)]
    np.testing.assert_array_equal(*crops)
    np.testing.assert_array_equal(*flips)
    np.testing.assert_array_equal(IMAGES, before)


def test_flip_by_hand_and_flip_of_flip_is_identity():
    X = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    flipped = random_horizontal_flip(X, 1.0, rng=0)
    np.testing.assert_array_equal(flipped[0, 0], [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(random_horizontal_flip(flipped, 1.0, rng=1), X)
    np.testing.assert_array_equal(random_horizontal_flip(X, 0.0, rng=0), X)
    assert flipped.dtype == np.float32


def test_flip_mirrors_about_a_fraction_p_of_the_images():
    X = np.random.default_rng(2).random((2000, 1, 2, 2), dtype=np.float32)
    out = random_horizontal_flip(X, 0.3, rng=np.random.default_rng(3))
    mirrored = np.all(out == X[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == X, axis=(1, 2, 3))
    assert np.all(mirrored ^ kept)
    assert 0.25 < mirrored.mean() < 0.35


def test_augmentations_refuse_an_unseeded_rng_and_bad_shapes():
    with pytest.raises(TypeError, match="random_crop: expected rng a numpy.random.Generator or an int seed"):
        random_crop(IMAGES, 4, 1, None)
    with pytest.raises(TypeError, match="random_horizontal_flip: .*got None"):
        random_horizontal_flip(IMAGES, 0.5, None)
    with pytest.raises(ValueError, match=r"random_crop: .*got size 8, padding 1"):
        random_crop(IMAGES, 8, 1, 0)
    with pytest.raises(ValueError, match=r"channel_stats: .*\(N, C, H, W\), got shape \(5, 7\)"):
        channel_stats(IMAGES[0, 0])
    with pytest.raises(ValueError, match=r"random_horizontal_flip: p must be in \[0, 1\], got 1.5"):
        random_horizontal_flip(IMAGES, 1.5, 0)
