"""The XNOR-popcount dot products of deploy.engine, two ways that give the same integers (docs/EXPORT.md):
a C kernel (deploy/popcount.c, ``__builtin_popcountll``) compiled at first use into a cache folder and loaded
with ctypes, and a pure NumPy fallback (NumPy 1.24 has no bitwise_count: a 16-bit popcount table).

``dense_dot(act, weights, n)``: act (images, words), weights (units, words) -> int32 (images, units).
``conv_dot(act, weights, channels, pad)``: act (images, H, W, words), weights (filters, kh, kw, words)
-> int32 (images, out_h, out_w, filters). Both compute s = (valid inputs) - 2 * popcount(a XOR w).
"""
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.errors import UserError
from deploy.layout import conv_output_size, valid_taps

SOURCE = Path(__file__).with_name("popcount.c")
FLAGS = ["-O3", "-march=native", "-std=c99", "-shared", "-fPIC"]
BACKENDS = ("auto", "c", "numpy")
CHUNK_BYTES = 1 << 26  # bound on the NumPy fallback's temporary XOR arrays

_POPCOUNT16 = sum((np.arange(1 << 16) >> bit) & 1 for bit in range(16)).astype(np.uint8)


def _popcounts(x: np.ndarray) -> np.ndarray:
    """Sum of the popcounts of the uint64 words along the last axis, int32."""
    return _POPCOUNT16[np.ascontiguousarray(x).view(np.uint16)].sum(axis=-1, dtype=np.int32)


class NumpyKernels:
    """The fallback: XOR of broadcast words, popcounts looked up 16 bits at a time."""

    name = "numpy"

    def dense_dot(self, act: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
        s = np.empty((len(act), len(weights)), dtype=np.int32)
        rows = max(1, CHUNK_BYTES // weights.nbytes)
        for start in range(0, len(act), rows):
            s[start:start + rows] = n - 2 * _popcounts(act[start:start + rows, None, :] ^ weights[None])
        return s

    def conv_dot(self, act: np.ndarray, weights: np.ndarray, channels: int, pad: Tuple[int, int]) -> np.ndarray:
        """Zero words stand for the padding; their popcount(0 XOR w) = popcount(w) is counted, then taken off."""
        images, height, width, words = act.shape
        filters, kh, kw, _ = weights.shape
        out_h, out_w = conv_output_size(height, width, (kh, kw), pad)
        padded = np.pad(act, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
        patches = sliding_window_view(padded, (kh, kw), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
        patches = patches.reshape(images, out_h * out_w, kh * kw * words)
        valid = valid_taps(height, width, (kh, kw), pad).reshape(out_h * out_w, kh * kw)
        padding = (~valid).astype(np.int32) @ _popcounts(weights.reshape(filters, kh * kw, words)).T
        inputs = valid.sum(axis=1, dtype=np.int32)[:, None] * channels
        flat = weights.reshape(filters, -1)
        s = np.empty((images, out_h * out_w, filters), dtype=np.int32)
        pixels = max(1, CHUNK_BYTES // flat.nbytes)
        for image in range(images):
            for start in range(0, out_h * out_w, pixels):
                rows = slice(start, start + pixels)
                mismatches = _popcounts(patches[image, rows, None, :] ^ flat[None]) - padding[rows]
                s[image, rows] = inputs[rows] - 2 * mismatches
        return s.reshape(images, out_h, out_w, filters)


_WORDS = np.ctypeslib.ndpointer(dtype=np.uint64, flags="C_CONTIGUOUS")
_SUMS = np.ctypeslib.ndpointer(dtype=np.int32, flags="C_CONTIGUOUS")


class CKernels:
    """deploy/popcount.c through ctypes."""

    name = "c"

    def __init__(self, library: Path) -> None:
        self._library = ctypes.CDLL(str(library))
        self._library.dense_dot.argtypes = [_WORDS, _WORDS] + [ctypes.c_int64] * 4 + [_SUMS]
        self._library.conv_dot.argtypes = [_WORDS, _WORDS] + [ctypes.c_int64] * 10 + [_SUMS]
        self._library.dense_dot.restype = self._library.conv_dot.restype = None

    def dense_dot(self, act: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
        act = np.ascontiguousarray(act)
        s = np.empty((len(act), len(weights)), dtype=np.int32)
        self._library.dense_dot(act, weights, len(act), len(weights), weights.shape[1], n, s)
        return s

    def conv_dot(self, act: np.ndarray, weights: np.ndarray, channels: int, pad: Tuple[int, int]) -> np.ndarray:
        act = np.ascontiguousarray(act)
        images, height, width, words = act.shape
        filters, kh, kw, _ = weights.shape
        s = np.empty((images,) + conv_output_size(height, width, (kh, kw), pad) + (filters,), dtype=np.int32)
        self._library.conv_dot(act, weights, images, height, width, words, channels, filters, kh, kw, pad[0], pad[1], s)
        return s


Kernels = Union[CKernels, NumpyKernels]


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/binarized-nets, by default ~/.cache/binarized-nets: never the source tree."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "binarized-nets"


def find_compiler() -> Optional[str]:
    """$CC, gcc or cc, the first on the PATH."""
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_flags() -> str:
    """The CPU's feature flags (-march=native code must not run on another CPU sharing the cache folder)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


@functools.lru_cache(maxsize=None)
def build(compiler: str) -> Path:
    """The compiled kernel in the cache folder, compiled first if absent; the name hashes the source, compiler,
    flags and CPU. Raises subprocess.CalledProcessError with the compiler's messages if compilation fails."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = "\0".join([SOURCE.read_text(), compiler, version, " ".join(FLAGS), platform.machine(), _cpu_flags()])
    library = cache_folder() / ("popcount-%s.so" % hashlib.sha256(key.encode()).hexdigest()[:16])
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(suffix=".so", dir=library.parent)
        os.close(handle)
        try:
            subprocess.run([compiler] + FLAGS + ["-o", partial, str(SOURCE)], check=True, capture_output=True,
                           text=True)
            os.replace(partial, library)  # atomic: concurrent first uses each build, one file wins
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return library


_fallback_reported = False


def select(backend: str = "auto") -> Kernels:
    """'c' (UserError if it cannot be built), 'numpy', or 'auto': C when it builds, else NumPy, said once on
    stderr."""
    global _fallback_reported
    if backend not in BACKENDS:
        raise UserError("backend must be one of %s, not %r" % (", ".join(BACKENDS), backend))
    if backend == "numpy":
        return NumpyKernels()
    compiler = find_compiler()
    try:
        if compiler is None:
            raise UserError("no C compiler on the PATH ($CC, gcc or cc)")
        return CKernels(build(compiler))
    except (UserError, subprocess.CalledProcessError, OSError) as error:
        reason = getattr(error, "stderr", None) or str(error)
        if backend == "c":
            raise UserError("the C popcount kernel cannot be built: %s" % reason) from error
        if not _fallback_reported:
            print("deploy: the C popcount kernel cannot be built (%s); using the NumPy fallback, which is slower"
                  % reason.strip(), file=sys.stderr)
            _fallback_reported = True
        return NumpyKernels()
