"""Module.save / Module.load with .npz and .safetensors files: PyTorch reads ours and we read PyTorch's;
damaged or wrong files get an error naming the file, and change nothing."""
import os
import re
import zipfile

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from minidl import Tensor, manual_seed, nn


def make_model(seed):
    manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))


def torch_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8, 3))


def snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


X = np.random.default_rng(0).standard_normal((4, 1, 4, 4)).astype(np.float32)


# --------------------------------------------------------------------- safetensors with PyTorch
def test_a_torch_safetensors_file_loads_into_the_same_minidl_architecture(tmp_path):
    theirs = torch_model(0)
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(theirs.state_dict(), str(path))
    ours = make_model(1).load(path)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(ours(Tensor(X)).data, expected, rtol=1e-5, atol=1e-6)
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value.numpy())


def test_a_minidl_safetensors_file_loads_into_torch(tmp_path):
    ours = make_model(0)
    path = tmp_path / "ours.safetensors"
    assert ours.save(path) == str(path)
    assert os.listdir(tmp_path) == ["ours.safetensors"]  # written atomically: no temporary file left
    theirs = torch_model(1)
    result = theirs.load_state_dict(safetensors.torch.load_file(str(path)))
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        output = theirs(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(output, ours(Tensor(X)).data, rtol=1e-5, atol=1e-6)


def test_safetensors_round_trip_keeps_dtype_and_float64(tmp_path):
    source = make_model(0).double()
    source.save(tmp_path / "w.SafeTensors")  # the suffix is matched case-insensitively
    assert set(safetensors.numpy.load_file(str(tmp_path / "w.SafeTensors"))) == set(source.state_dict())
    target = make_model(1).double().load(tmp_path / "w.SafeTensors")
    for key, value in source.state_dict().items():
        assert target.state_dict()[key].dtype == np.float64
        np.testing.assert_array_equal(target.state_dict()[key], value)


def test_safetensors_load_strict_false(tmp_path):
    source = make_model(0)
    safetensors.numpy.save_file({"3.weight": source[3].weight.data, "extra": np.ones(1, np.float32)},
                                str(tmp_path / "part.safetensors"))
    target = make_model(1)
    assert target.load(tmp_path / "part.safetensors", strict=False) is target
    np.testing.assert_array_equal(target[3].weight.data, source[3].weight.data)


# --------------------------------------------------------------------- damaged and wrong files
def save_npz(tmp_path):
    path = tmp_path / "w.npz"
    make_model(0).save(path)
    return path, path.read_bytes()


def truncated_npz(tmp_path):
    path, content = save_npz(tmp_path)
    path.write_bytes(content[:len(content) // 2])
    return path, "is a damaged .npz archive (BadZipFile"


def bad_crc_npz(tmp_path):
    path = tmp_path / "w.npz"
    arrays = {k: v for k, v in make_model(0).state_dict().items()}
    arrays["3.bias"] = np.full(3, 7.0, np.float32)
    np.savez(path, **arrays)  # stored, not compressed: the member's bytes are in the file as they are
    content = bytearray(path.read_bytes())
    at = content.index(np.full(3, 7.0, np.float32).tobytes())
    content[at] ^= 0xFF
    path.write_bytes(bytes(content))
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() == "3.bias.npy"  # the damage is a CRC mismatch in one member
    return path, "is a damaged .npz archive (BadZipFile: Bad CRC-32"


def npy_file(tmp_path):
    path = tmp_path / "w.npz"
    with open(path, "wb") as stream:
        np.save(stream, np.ones(3, np.float32))
    return path, "is a .npy file holding a single array, not an .npz archive"


def text_file(tmp_path):
    path = tmp_path / "w.npz"
    path.write_text("weights: none")
    return path, "is not an .npz archive (no zip header)"


def pickled_npz(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"0.weight": np.array([object()], dtype=object)})
    return path, "is a damaged .npz archive (ValueError: Object arrays cannot be loaded"


def truncated_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    make_model(0).save(path)
    path.write_bytes(path.read_bytes()[:-5])
    return path, "is not a readable safetensors file (Error while deserializing"


def npz_named_safetensors(tmp_path):
    path, content = save_npz(tmp_path)
    other = tmp_path / "w.safetensors"
    other.write_bytes(content)
    return other, "is not a readable safetensors file"


def empty_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"")
    return path, "is not a readable safetensors file"


def bfloat16_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({k: v.to(torch.bfloat16) for k, v in torch_model(0).state_dict().items()},
                                str(path))
    return path, "holds BF16 tensors, which NumPy cannot represent; convert them to float32 before saving"


def zip_of_text(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("3.bias.npy", "not an array")
    return path, "is a zip archive whose member '3.bias' is not a .npy array"


def torch_pt_file(tmp_path):
    path = tmp_path / "w.npz"
    torch.save(torch_model(0).state_dict(), path)
    return path, "is a zip archive whose member 'w/data.pkl' is not a .npy array (a PyTorch .pt file"


@pytest.mark.parametrize("damage", [truncated_npz, bad_crc_npz, npy_file, text_file, pickled_npz,
                                    zip_of_text, torch_pt_file, truncated_safetensors, npz_named_safetensors, empty_safetensors,
                                    bfloat16_safetensors])
def test_a_damaged_or_wrong_file_names_the_file_and_changes_nothing(tmp_path, damage):
    path, message = damage(tmp_path)
    model = make_model(1)
    before = snapshot(model)
    with pytest.raises(ValueError, match="^" + re.escape(f"Sequential.load: {str(path)!r} {message}")):
        model.load(path)
    assert_unchanged(model, before)


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        make_model(0).load(tmp_path / "nothing.npz")


def test_a_safetensors_file_of_another_architecture_changes_nothing(tmp_path):
    make_model(0).save(tmp_path / "small.safetensors")
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4))
    before = snapshot(other)
    with pytest.raises(ValueError, match=re.escape("3.weight: expected (4, 8) float32, got (3, 8) float32")):
        other.load(tmp_path / "small.safetensors")
    assert_unchanged(other, before)


class Odd(nn.Module):
    """Weights named as numpy.savez's own arguments, and a model without weights."""

    def __init__(self, names):
        super().__init__()
        for i, name in enumerate(names):
            setattr(self, name, nn.Parameter(np.full(2, float(i), np.float32)))


@pytest.mark.parametrize("names", [("file", "allow_pickle", "args"), ()])
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_any_key_and_an_empty_model_round_trip(tmp_path, names, suffix):
    Odd(names).save(tmp_path / ("w" + suffix))
    target = Odd(names)
    for p in target.parameters():
        p.data[...] = -1
    target.load(tmp_path / ("w" + suffix))
    for i, name in enumerate(names):
        np.testing.assert_array_equal(getattr(target, name).data, np.full(2, float(i), np.float32))
    if suffix == ".npz":
        with np.load(tmp_path / "w.npz") as archive:  # still an archive NumPy reads
            assert archive.files == list(names)


class Scaled(nn.Module):
    """A 0-d parameter (a learned temperature) beside a BatchNorm, whose count is a 0-d int64 buffer."""

    def __init__(self):
        super().__init__()
        self.temperature = nn.Parameter(np.array(1.5, np.float32))
        self.norm = nn.BatchNorm1d(2)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_zero_dimensional_weights_keep_their_shape(tmp_path, suffix):
    source = Scaled()
    source.norm(Tensor(np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)))
    source.save(tmp_path / ("w" + suffix))  # were written with shape (1,), and the load was refused
    target = Scaled()
    target.load(tmp_path / ("w" + suffix))
    assert target.temperature.shape == () and target.temperature.data == np.float32(1.5)
    assert target.norm.num_batches_tracked.shape == () and target.norm.num_batches_tracked == 1


@pytest.mark.parametrize("name", ["model.pt", "model.PTH"])
def test_a_pytorch_checkpoint_name_is_refused_and_nothing_written(tmp_path, name):
    with pytest.raises(ValueError, match=f"Sequential.save: '.*{re.escape(name)}' names a PyTorch checkpoint, "
                                         f"which torch.load reads and minidl does not write; name it "
                                         f".safetensors"):
        make_model(0).save(tmp_path / name)
    assert os.listdir(tmp_path) == []
