"""``PackedNetwork``: a deploy file (deploy.export) run with XNOR + popcount on packed words; NumPy (a C compiler
for the fast kernels).

Exact: the scores are bit for bit those of Theano's deterministic pass on the exporting machine
(docs/EXPORT.md, "Exactness"). The first layer is float32 (real inputs times ±1 weights, summed as the sgemm
Theano calls sums them: by the C library in that sgemm's order where it is found, deploy.first_order, else by the
sgemm); every later layer is integer arithmetic on sign bits; each hidden unit is +1 iff its integer
pre-activation reaches its threshold; max-pooling takes the integer pre-activations (trap 8); the output
layer's scores are read from the exported table of Theano's own batch norm outputs.
"""

import zipfile
from pathlib import Path
from typing import Callable, List, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deploy import kernels, layout, pixels
from deploy.errors import DeployError
from deploy.first_order import SgemmOrder

FIRST_LAYERS = ("float", "sgemm", "pixels")
CHUNK = 16  # images per float32 first-layer product


class Layer(NamedTuple):
    """One stage of the file (docs/EXPORT.md lists the keys)."""

    kind: str  # "dense" or "conv"
    role: str  # "first", "hidden" or "output"
    fan_in: int
    input_shape: Tuple[int, ...]  # per image: (C, H, W) or (n,)
    output_shape: Tuple[int, ...]
    weights: np.ndarray  # packed rows; float32 ±1 for the first layer: (fan_in, units) or (filters, C_in*kh*kw)
    flipped: Optional[np.ndarray]  # rows stored negated (not at the output)
    threshold: Optional[np.ndarray]  # +1 iff pre' >= threshold; float32 (first) or int32 (hidden)
    table: Optional[np.ndarray]  # output: float32 (units, fan_in + 1), the score of s at (s + fan_in) / 2
    filter_size: Tuple[int, int]
    pad: Tuple[int, int]
    pool_size: Tuple[int, int]


def _ints(values: np.ndarray) -> Tuple[int, ...]:
    return tuple(int(value) for value in values)


def _read_layer(data: Mapping[str, np.ndarray], index: int) -> Layer:
    """Layer ``index`` of the arrays; KeyError where a key its role needs is missing."""

    def get(key: str, default: Optional[tuple] = None, needed: bool = True) -> Optional[np.ndarray]:
        name = "layer%d/%s" % (index, key)
        if name in data:
            return np.asarray(data[name])
        if needed and default is None:
            raise KeyError(name)
        return None if default is None else np.asarray(default)

    kind, role, fan_in = str(get("kind")), str(get("role")), int(get("fan_in"))
    input_shape, weights = _ints(get("input_shape")), get("weights")
    if role == "first":  # unpacked once: float32 ±1 in the layout Theano hands to sgemm
        signs = layout.signs(layout.unpack(weights, fan_in if kind == "dense" else input_shape[0]))
        weights = signs.T if kind == "dense" else signs.transpose(0, 3, 1, 2).reshape(len(signs), -1)
    return Layer(
        kind,
        role,
        fan_in,
        input_shape,
        _ints(get("output_shape")),
        np.ascontiguousarray(weights),
        get("flipped", needed=role != "output"),
        get("threshold", needed=role != "output"),
        get("table", needed=role == "output"),
        _ints(get("filter_size", (1, 1))),
        _ints(get("pad", (0, 0))),
        _ints(get("pool_size", (1, 1))),
    )


def sgemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float32 summed as Theano's Dot22 and CorrMM sum it (one sgemm call of the same BLAS).

    NumPy hands a product with a single row or column to sgemv, which sums in another order (it changed 92 % of a
    784 -> 4096 layer's outputs in the last bit); such a product gets a duplicate row or column, dropped after.
    """
    rows, columns = a.shape[0], b.shape[1]
    a = np.concatenate([a, a]) if rows == 1 else a
    b = np.concatenate([b, b], axis=1) if columns == 1 else b
    return (a @ b)[:rows, :columns]


def first_preactivation(
    layer: Layer, X: np.ndarray, order: Optional[SgemmOrder] = None, first_sums: Optional[Callable] = None
) -> np.ndarray:
    """z' = x . w' (float32): (N, units), or (N, out_h, out_w, filters) for a convolution computed as CorrMM
    does: zero-padded image patches (channel, row, column) times the flipped filters, one image at a time. Through the
    sgemm, or summed in its ``order`` (deploy.first_order) by ``first_sums`` (a C backend's) where that is found."""
    if layer.kind == "dense":
        rows = X.reshape(len(X), -1)
        split = None if order is None else order.split(len(rows), first_sums)
        return sgemm(rows, layer.weights) if split is None else order.sums(first_sums, rows, split)
    (kh, kw), (ph, pw) = layer.filter_size, layer.pad
    padded = np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_size = _conv_size(layer)
    split = None if order is None else order.split(out_size[0] * out_size[1], first_sums)
    if split is None:
        windows = sliding_window_view(padded, (kh, kw), axis=(2, 3)).transpose(0, 1, 4, 5, 2, 3)
        columns = np.ascontiguousarray(windows).reshape(len(X), layer.fan_in, -1)  # CorrMM's, image by image
        z = np.stack([sgemm(layer.weights, image).T for image in columns])
    else:
        z = order.conv_sums(first_sums, padded, layer.filter_size, split)
    return z.reshape((len(X),) + out_size + (-1,))


def _conv_size(layer: Layer) -> Tuple[int, int]:
    return layout.conv_output_size(layer.input_shape[1], layer.input_shape[2], layer.filter_size, layer.pad)


def sgemm_order(layer: Layer) -> SgemmOrder:
    """The first layer's sign bits, to be summed in the order of the sgemm it is computed with (deploy.first_order)."""
    if layer.kind == "dense":
        return SgemmOrder(layer.weights, lambda v: sgemm(v, layer.weights))
    return SgemmOrder(
        np.ascontiguousarray(layer.weights.T), lambda v: sgemm(layer.weights, np.ascontiguousarray(v.T)).T
    )


def _packed_input(layer: Layer, packed: np.ndarray, channels: int) -> np.ndarray:
    """The previous stage's packed sign bits as ``layer`` reads them: each pixel's channels for a convolution, the
    channel-major flattening (C, H, W) of feature maps for a dense layer (trap 24), repacked."""
    if layer.kind == "dense" and packed.ndim == 4:
        bits = layout.unpack(packed, channels)
        return layout.pack(bits.transpose(0, 3, 1, 2).reshape(len(bits), -1))
    return packed


class PackedNetwork:
    """A runnable deploy file in memory, with its popcount backend (deploy.kernels)."""

    def __init__(
        self, layers: List[Layer], input_shape: Tuple[int, ...], backend: kernels.Kernels, first_layer: str = "float"
    ) -> None:
        if first_layer not in FIRST_LAYERS:
            raise DeployError("first_layer must be one of %s, not %r" % (", ".join(FIRST_LAYERS), first_layer))
        if first_layer == "pixels" and layers[0].kind != "dense":
            raise DeployError("the exact integer first layer (first_layer='pixels') is for a dense first layer")
        self.layers = layers
        self.input_shape = input_shape
        self.backend = backend
        self.first_layer = first_layer
        self._integer_first = (
            pixels.IntegerFirstLayer(layers[0].weights, layers[0].threshold) if first_layer == "pixels" else None
        )
        self.first_order = sgemm_order(layers[0]) if first_layer == "float" else None

    @property
    def first_layer_path(self) -> str:
        """How the first layer has been computed, in words."""
        if self.first_layer == "pixels":
            return "exact integers (8-bit pixels)"
        if self.first_order is None or not isinstance(self.backend, kernels.CKernels):
            return "float32 by the BLAS's sgemm"
        return "float32 in the sgemm's order by the C library where found (blocks per product size: %s)" % (
            self.first_order.described() or "none yet"
        )

    @property
    def threads(self) -> int:
        """Threads of the popcount kernel (1 for NumPy's)."""
        return self.backend.threads

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        backend: str = "auto",
        kernel: str = "auto",
        threads: Optional[int] = None,
        first_layer: str = "float",
        name: str = "the arrays",
    ) -> "PackedNetwork":
        """The network held by ``arrays``: the deploy file's keys and values (docs/EXPORT.md, "File format"), e.g.
        deploy.export.export_arrays(network) or an open np.load of the file. ``backend``: 'auto' (C if it builds,
        else NumPy), 'c' or 'numpy'; ``kernel``: the C popcount kernel, 'auto' (the fastest this CPU runs) or one of
        deploy.kernels.KERNELS; ``threads``: the C kernel's threads (default: the CPUs this process may use);
        ``first_layer``: 'float' (Theano's float32 sums, bit for bit its scores: summed by the C library in the order
        of the sgemm, deploy.first_order, or by the sgemm where that order is not found), 'sgemm' (always the sgemm)
        or 'pixels' (inputs must be 8-bit pixels scaled as the MNIST scripts scale them; the first layer's sums in
        exact integers, deploy.pixels).
        DeployError if they are not a runnable network."""
        try:
            if "format" not in arrays or str(arrays["format"]) != layout.FORMAT:
                raise DeployError("%s: not a %s file (deploy.export writes them)" % (name, layout.FORMAT))
            if int(arrays["version"]) != layout.VERSION:
                raise DeployError(
                    "%s: format version %d; this engine reads version %d"
                    % (name, int(arrays["version"]), layout.VERSION)
                )
            if not bool(arrays["runnable"]):
                raise DeployError("%s cannot be run: %s" % (name, str(arrays["note"])))
            layers = [_read_layer(arrays, index) for index in range(int(arrays["num_layers"]))]
            input_shape = tuple(int(size) for size in arrays["input_shape"])
        except (KeyError, ValueError, TypeError) as error:
            raise DeployError("%s: not a complete %s file (%s)" % (name, layout.FORMAT, error)) from error
        return cls(layers, input_shape, kernels.select(backend, kernel, threads), first_layer)

    @classmethod
    def load(
        cls,
        path: Union[str, Path],
        backend: str = "auto",
        kernel: str = "auto",
        threads: Optional[int] = None,
        first_layer: str = "float",
    ) -> "PackedNetwork":
        """Read a deploy file (allow_pickle=False); the options are from_arrays'. DeployError if the file is not a
        runnable deploy file."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls.from_arrays(data, backend, kernel, threads, first_layer, name=str(path))
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise DeployError("%s cannot be read as a %s file: %s" % (path, layout.FORMAT, error)) from error

    def _run(self, X: np.ndarray, keep: bool) -> Tuple[np.ndarray, List[np.ndarray]]:
        X = np.asarray(X, dtype=np.float32)
        if X.shape[1:] != self.input_shape:
            raise DeployError("inputs of shape %s; this network takes (N,) + %s" % (X.shape, self.input_shape))
        kept = []
        packed, units = None, 0  # the previous stage's sign bits, packed, and its units (channels)
        for layer in self.layers:
            if layer.role == "first" and self.first_layer == "pixels":
                packed = layout.pack(self._integer_first.bits(X, self.backend.dense_dot))
            elif layer.role == "first":
                packed = self._first_layer(layer, X)
            else:
                inputs = _packed_input(layer, packed, units)
                if layer.kind == "conv":
                    pre = self.backend.conv_dot(inputs, layer.weights, layer.input_shape[0], layer.pad)
                else:
                    pre = self.backend.dense_dot(inputs, layer.weights, layer.fan_in)
                if layer.role == "output":
                    return layer.table[np.arange(len(layer.table)), (pre + layer.fan_in) // 2], kept
                packed = self.backend.sign_pack(pre, layer.flipped, layer.threshold, layer.pool_size)
            units = layer.output_shape[0]
            if keep:
                bits = layout.unpack(packed, units)
                kept.append(np.where(bits.transpose(0, 3, 1, 2) if bits.ndim == 4 else bits, 1, -1).astype(np.int8))
        raise DeployError("the file has no output layer")

    def _first_layer(self, layer: Layer, X: np.ndarray) -> np.ndarray:
        """The first stage's packed sign bits from its float32 sums: one product for a dense layer (as Theano's Dot22),
        a convolution's in chunks of CHUNK images that stay in the cache (CorrMM's sgemm: one image at a time). In
        the sgemm's order by the C backend where it is found, else by the sgemm."""
        c = isinstance(self.backend, kernels.CKernels)
        order, first_sums = (self.first_order, self.backend.first_sums) if c else (None, None)
        chunk = CHUNK if layer.kind == "conv" else max(1, len(X))
        signs = [
            self.backend.first_signs(
                first_preactivation(layer, X[start : start + chunk], order, first_sums),
                layer.flipped,
                layer.threshold,
                layer.pool_size,
            )
            for start in range(0, len(X), chunk)
        ]
        return signs[0] if len(signs) == 1 else np.concatenate(signs)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """float32 scores (N, classes) of inputs X (N,) + input_shape: Theano's deterministic output."""
        return self._run(X, keep=False)[0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels: argmax of the scores (the first of equal maxima, as Theano's argmax)."""
        return np.argmax(self.forward(X), axis=1)

    def layer_outputs(self, X: np.ndarray) -> List[np.ndarray]:
        """Every hidden stage's ±1 output (int8; (N, units) or (N, C, H, W) as Theano lays them out), then the
        scores."""
        scores, kept = self._run(X, keep=True)
        return kept + [scores]
