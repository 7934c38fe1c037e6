"""The XNOR-popcount dot products of deploy.engine, two ways that give the same integers (docs/EXPORT.md, "Engine"):
a C library (deploy/popcount.c, declared in deploy/popcount.h) compiled at first use into a cache folder and loaded
with ctypes, and a pure NumPy fallback (NumPy 1.24 has no bitwise_count: a 16-bit popcount table).

``dense_dot(act, weights, n)``: act (images, words), weights (units, words) -> int32 (images, units).
``conv_dot(act, weights, channels, pad)``: act (images, H, W, words), weights (filters, kh, kw, words)
-> int32 (images, out_h, out_w, filters). Both compute s = (valid inputs) - 2 * popcount(a XOR w).
``sign_pack(pre, flipped, threshold, pool_size)``: a hidden stage's int32 sums (images, [H, W,] units) max-pooled
(``max_pool``), compared with the thresholds and packed: uint64 (images, [H', W',] words(units)); ``first_signs`` the
same for the first stage's float32 sums. The C library also sums the first layer in a given order (``first_sums``,
deploy.first_order).

The C library holds several popcount kernels (``KERNELS``: portable C, POPCNT, AVX2, AVX-512 VPOPCNTDQ) and runs the
ones the CPU has; ``kernel="auto"`` takes the fastest. It splits each product over ``threads`` threads (by default
the CPUs this process may use). Every kernel and thread count gives the same integers.
"""

import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deploy import layout
from deploy.errors import DeployError
from deploy.layout import conv_output_size, valid_taps

SOURCE = Path(__file__).with_name("popcount.c")
HEADER = Path(__file__).with_name("popcount.h")
FLAGS = ["-O3", "-std=c99", "-shared", "-fPIC", "-pthread"]  # no -march: the kernels are chosen at run time
BACKENDS = ("auto", "c", "numpy")
KERNELS = ("portable", "popcnt", "avx2", "avx512")  # popcount.h's kernel numbers, slowest first
GRAIN = 1 << 15  # words of XOR + popcount per thread, at least: a thread costs some 10-50 us to start
CHUNK_BYTES = 1 << 26  # bound on the NumPy fallback's temporary XOR arrays

_POPCOUNT16 = sum((np.arange(1 << 16) >> bit) & 1 for bit in range(16)).astype(np.uint8)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _popcounts(x: np.ndarray) -> np.ndarray:
    """Sum of the popcounts of the uint64 words along the last axis, int32."""
    return _POPCOUNT16[np.ascontiguousarray(x).view(np.uint16)].sum(axis=-1, dtype=np.int32)


def max_pool(pre: np.ndarray, flipped: np.ndarray, pool_size: Tuple[int, int]) -> np.ndarray:
    """Max-pooling (N, H, W, units) of the true pre-activation s = -s' for flipped units (so min of s' for those),
    then back to s'. The bias add and batch norm that follow in Theano are monotone: pooling first is exact (trap 8).
    Windows are whole (ignore_border=True); (1, 1) is no pooling."""
    ph, pw = pool_size
    if (ph, pw) == (1, 1):
        return pre
    orient = np.where(flipped, -1, 1).astype(pre.dtype)
    images, height, width, channels = pre.shape
    s = pre[:, : height - height % ph, : width - width % pw] * orient
    return s.reshape(images, height // ph, ph, width // pw, pw, channels).max(axis=(2, 4)) * orient


def pooled_signs(pre: np.ndarray, flipped: np.ndarray, threshold: np.ndarray, pool_size: Tuple[int, int]) -> np.ndarray:
    """A stage's sums (int32 or float32) max-pooled (``max_pool``), compared with the thresholds, packed; NumPy."""
    return layout.pack(max_pool(pre, flipped, pool_size) >= threshold)


class NumpyKernels:
    """The fallback: XOR of broadcast words, popcounts looked up 16 bits at a time; one thread."""

    name = "numpy"
    kernel = "numpy"
    threads = 1
    sign_pack = first_signs = staticmethod(pooled_signs)

    def dense_dot(self, act: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
        s = np.empty((len(act), len(weights)), dtype=np.int32)
        rows = max(1, CHUNK_BYTES // weights.nbytes)
        for start in range(0, len(act), rows):
            s[start : start + rows] = n - 2 * _popcounts(act[start : start + rows, None, :] ^ weights[None])
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


_CTYPES = {"int": ctypes.c_int, "int64_t": ctypes.c_int64, "void": None}
_CTYPES.update(
    ("%s%s_t *" % (const, name), np.ctypeslib.ndpointer(dtype=name, flags="C_CONTIGUOUS"))
    for const in ("", "const ")
    for name in ("uint64", "int64", "int32", "uint8")
)
_CTYPES.update(
    ("%sfloat *" % const, np.ctypeslib.ndpointer(dtype=np.float32, flags="C_CONTIGUOUS")) for const in ("", "const ")
)
_PROTOTYPE = re.compile(r"^(\w+) (\w+)\((.*)\);$")
_PARAMETER = re.compile(r"^(.*?)\s*\b\w+$")


def declarations(header: str) -> Dict[str, Tuple[object, List[object]]]:
    """name -> (ctypes restype, argtypes) of every prototype in popcount.h (one per line, no other declarations)."""
    functions = {}
    for line in header.splitlines():
        match = _PROTOTYPE.match(line.strip())
        if match:
            restype, name, parameters = match.groups()
            types = [] if parameters == "void" else [_PARAMETER.match(p).group(1) for p in parameters.split(", ")]
            functions[name] = (_CTYPES[restype], [_CTYPES[t] for t in types])
    return functions


def _check_threads(threads: Optional[int]) -> int:
    if threads is None:
        return usable_cpus()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise DeployError("threads must be a whole number >= 1, not %r" % (threads,))
    return int(threads)


class CKernels:
    """deploy/popcount.c through ctypes: one of its popcount kernels, on ``threads`` threads."""

    name = "c"

    def __init__(self, library: ctypes.CDLL, kernel: str = "auto", threads: Optional[int] = None) -> None:
        self._library = library
        for name, (restype, argtypes) in declarations(HEADER.read_text()).items():
            getattr(self._library, name).restype = restype
            getattr(self._library, name).argtypes = argtypes
        self.available = available_kernels(self._library)
        if kernel == "auto":
            kernel = self.available[-1]
        if kernel not in self.available:
            raise DeployError(
                "popcount kernel %r: this CPU runs %s" % (kernel, ", ".join(self.available))
                if kernel in KERNELS
                else "kernel must be auto or one of %s, not %r" % (", ".join(KERNELS), kernel)
            )
        self.kernel = kernel
        self.threads = _check_threads(threads)
        self.grain = GRAIN

    def _check(self, status: int) -> None:
        if status != 0:
            raise DeployError("the %s popcount kernel could not run (out of memory?)" % self.kernel)

    def dense_dot(self, act: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
        act = np.ascontiguousarray(act)
        s = np.empty((len(act), len(weights)), dtype=np.int32)
        self._check(
            self._library.dense_dot(
                act,
                weights,
                len(act),
                len(weights),
                weights.shape[1],
                n,
                s,
                KERNELS.index(self.kernel),
                self.threads,
                self.grain,
            )
        )
        return s

    def sign_pack(
        self, pre: np.ndarray, flipped: np.ndarray, threshold: np.ndarray, pool_size: Tuple[int, int]
    ) -> np.ndarray:
        pre = np.ascontiguousarray(pre, dtype=np.int32)
        images, units = len(pre), pre.shape[-1]
        height, width = pre.shape[1:3] if pre.ndim == 4 else (1, 1)
        shape = (images, height // pool_size[0], width // pool_size[1]) if pre.ndim == 4 else (images,)
        out = np.empty(shape + (layout.words(units),), dtype=np.uint64)
        self._check(
            self._library.sign_pack(
                pre,
                images,
                height,
                width,
                units,
                pool_size[0],
                pool_size[1],
                np.ascontiguousarray(flipped, dtype=np.uint8),
                np.ascontiguousarray(threshold, dtype=np.int32),
                out,
                KERNELS.index(self.kernel),
                self.threads,
                self.grain,
            )
        )
        return out

    def first_signs(
        self, pre: np.ndarray, flipped: np.ndarray, threshold: np.ndarray, pool_size: Tuple[int, int]
    ) -> np.ndarray:
        """sign_pack of the first stage's float32 sums (float_signs where it has no pooling)."""
        if tuple(pool_size) != (1, 1):
            return pooled_signs(pre, flipped, threshold, pool_size)
        pre = np.ascontiguousarray(pre, dtype=np.float32)
        out = np.empty(pre.shape[:-1] + (layout.words(pre.shape[-1]),), dtype=np.uint64)
        rows = int(np.prod(pre.shape[:-1]))
        self._check(
            self._library.float_signs(
                pre,
                rows,
                pre.shape[-1],
                np.ascontiguousarray(threshold, dtype=np.float32),
                out,
                KERNELS.index(self.kernel),
                self.threads,
                self.grain,
            )
        )
        return out

    def first_sums(
        self,
        v: np.ndarray,
        at: np.ndarray,
        grid: Tuple[int, int, int],
        strides: Tuple[int, int, int],
        bits: np.ndarray,
        units: int,
        bounds: np.ndarray,
    ) -> np.ndarray:
        """float32 (images * height * width, units) for grid = (images, height, width): row (image, y, x) sums the
        terms ±v.flat[image * strides[0] + y * strides[1] + x * strides[2] + at[k]], k < len(at), block by block
        between ``bounds`` (the BLAS's order, deploy.first_order); ``bits`` (words(units), len(at)) uint64, bit u % 64
        of bits[u // 64, k] set where unit u's weight k is +1."""
        v = np.ascontiguousarray(v, dtype=np.float32)
        z = np.empty((int(np.prod(grid)), units), dtype=np.float32)
        self._check(
            self._library.first_sums(
                v,
                at,
                len(at),
                *grid,
                *strides,
                bits,
                units,
                bounds,
                len(bounds) - 1,
                z,
                KERNELS.index(self.kernel),
                self.threads,
                self.grain,
            )
        )
        return z

    def conv_dot(self, act: np.ndarray, weights: np.ndarray, channels: int, pad: Tuple[int, int]) -> np.ndarray:
        act = np.ascontiguousarray(act)
        images, height, width, words = act.shape
        filters, kh, kw, _ = weights.shape
        s = np.empty((images,) + conv_output_size(height, width, (kh, kw), pad) + (filters,), dtype=np.int32)
        self._check(
            self._library.conv_dot(
                act,
                weights,
                images,
                height,
                width,
                words,
                channels,
                filters,
                kh,
                kw,
                pad[0],
                pad[1],
                s,
                KERNELS.index(self.kernel),
                self.threads,
                self.grain,
            )
        )
        return s


Kernels = Union[CKernels, NumpyKernels]


def available_kernels(library: ctypes.CDLL) -> List[str]:
    """The kernels of a loaded library that this CPU runs, slowest first."""
    mask = library.popcount_kernels()
    return [name for index, name in enumerate(KERNELS) if mask >> index & 1]


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/binarized-nets, by default ~/.cache/binarized-nets: never the source tree."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "binarized-nets"


def find_compiler() -> Optional[str]:
    """$CC, else cc, gcc or clang: the first on the PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@functools.lru_cache(maxsize=None)
def build(compiler: str) -> Path:
    """The compiled library in the cache folder, compiled first if absent; the name hashes the sources, compiler,
    flags and machine. Raises subprocess.CalledProcessError with the compiler's messages if compilation fails."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = "\0".join([SOURCE.read_text(), HEADER.read_text(), compiler, version, " ".join(FLAGS), platform.machine()])
    library = cache_folder() / ("popcount-%s.so" % hashlib.sha256(key.encode()).hexdigest()[:16])
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(suffix=".so", dir=library.parent)
        os.close(handle)
        try:
            subprocess.run(
                [compiler] + FLAGS + ["-o", partial, str(SOURCE)], check=True, capture_output=True, text=True
            )
            os.replace(partial, library)  # atomic: concurrent first uses each build, one file wins
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return library


_fallback_reported = False


def select(backend: str = "auto", kernel: str = "auto", threads: Optional[int] = None) -> Kernels:
    """'c' (DeployError if it cannot be built), 'numpy', or 'auto': C when it builds, else NumPy, said once on
    stderr. ``kernel`` and ``threads`` are the C library's (see the module's docstring)."""
    global _fallback_reported
    if backend not in BACKENDS:
        raise DeployError("backend must be one of %s, not %r" % (", ".join(BACKENDS), backend))
    _check_threads(threads)
    if backend == "numpy":
        return NumpyKernels()
    compiler = find_compiler()
    try:
        if compiler is None:
            raise DeployError(
                "no C compiler on the PATH ($CC, cc, gcc or clang); install one (e.g. gcc) for the fast kernel"
            )
        library = ctypes.CDLL(str(build(compiler)))
    except (DeployError, subprocess.CalledProcessError, OSError) as error:
        reason = getattr(error, "stderr", None) or str(error)
        if backend == "c":
            raise DeployError("the C popcount kernel cannot be built: %s" % reason.strip()) from error
        if not _fallback_reported:
            print(
                "deploy: the C popcount kernel cannot be built (%s); using the NumPy fallback, which is slower"
                % reason.strip(),
                file=sys.stderr,
            )
            _fallback_reported = True
        return NumpyKernels()
    return CKernels(library, kernel, threads)
