"""Weight files: named host arrays written to and read from .npz or .safetensors files.

The format follows the file name: ``*.safetensors`` is the safetensors format (the ``safetensors``
package's NumPy API), which PyTorch reads with ``safetensors.torch.load_file``; any other name is a NumPy
.npz archive (a PyTorch checkpoint's name, .pt or .pth, is refused). Writes are atomic
(:func:`minidl.files.write_atomically`). A file that cannot be read raises a ValueError naming the file
and what is wrong with it, before any array reaches a model.
"""
import io
import os
import zipfile
import zlib

import numpy
import safetensors
import safetensors.numpy

from minidl.files import write_atomically

SAFETENSORS = ".safetensors"
TORCH_SUFFIXES = (".pt", ".pth")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or the end of an empty archive
_NPY_MAGIC = b"\x93NUMPY"


def is_safetensors(path):
    """True when ``path`` names a .safetensors file (by its suffix, case-insensitive)."""
    return os.fspath(path).lower().endswith(SAFETENSORS)


def write(path, arrays, where="weight_files.write"):
    """Write ``arrays`` (an ordered mapping name -> host NumPy array) to ``path`` atomically.

    Returns:
        the absolute path written.

    Raises:
        ValueError: naming ``where``, for a PyTorch checkpoint's name (.pt, .pth): torch.load could not
            read the archive written under it.
    """
    if os.fspath(path).lower().endswith(TORCH_SUFFIXES):
        raise ValueError(f"{where}: {os.fspath(path)!r} names a PyTorch checkpoint, which torch.load reads "
                         f"and minidl does not write; name it .safetensors (PyTorch reads it with "
                         f"safetensors.torch.load_file) or .npz")
    arrays = {key: numpy.asarray(value, order="C") for key, value in arrays.items()}  # 0-d stays 0-d
    if is_safetensors(path):
        return write_atomically(path, safetensors.numpy.save(arrays))
    return write_atomically(path, lambda stream: _write_npz(stream, arrays))


def _write_npz(stream, arrays):
    """An uncompressed .npz archive, as numpy.savez writes, for any key: savez takes the keys as keyword
    arguments, so a weight named ``file`` or ``allow_pickle`` would be refused or taken for its option."""
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                numpy.lib.format.write_array(member, value, allow_pickle=False)


def read(path, where):
    """Read every array of a weight file into a dict name -> host NumPy array.

    Args:
        path: a .safetensors file, or an .npz archive (any other name).
        where: the caller, named in errors.

    Raises:
        FileNotFoundError: when there is no such file.
        ValueError: naming the file and what is wrong with it: truncated, a member with a bad CRC, a
            single-array .npy file, pickled objects, a zip member that is no array (a PyTorch .pt file),
            a dtype NumPy lacks (bfloat16), or not a weight file at all.
    """
    path = os.fspath(path)
    with open(path, "rb") as stream:
        content = stream.read()
    if is_safetensors(path):
        try:
            return dict(safetensors.numpy.load(content))
        except safetensors.SafetensorError as error:
            raise ValueError(f"{where}: {path!r} is not a readable safetensors file ({error})") from None
        except KeyError as error:  # the NumPy API knows no such dtype (BF16, F8_E4M3, ...)
            raise ValueError(f"{where}: {path!r} holds {error.args[0]} tensors, which NumPy cannot "
                             f"represent; convert them to float32 before saving, e.g. "
                             f"{{k: v.float() for k, v in state.items()}} in PyTorch") from None
    if content.startswith(_NPY_MAGIC):
        raise ValueError(f"{where}: {path!r} is a .npy file holding a single array, not an .npz archive "
                         f"of named weights (write weight files with Module.save)")
    if not content.startswith(_ZIP_MAGICS):
        raise ValueError(f"{where}: {path!r} is not an .npz archive (no zip header); weight files are "
                         f".npz or .safetensors")
    try:
        with numpy.load(io.BytesIO(content), allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as error:
        raise ValueError(f"{where}: {path!r} is a damaged .npz archive ({type(error).__name__}: "
                         f"{error})") from None
    for name, member in members.items():  # NumPy returns the raw bytes of a member that is no .npy array
        if not isinstance(member, numpy.ndarray):
            raise ValueError(f"{where}: {path!r} is a zip archive whose member {name!r} is not a .npy "
                             f"array (a PyTorch .pt file is such an archive); weight files are .npz or "
                             f".safetensors")
    return members
