"""``PackedNetwork``: a deploy file (deploy.export) run with XNOR + popcount on packed words; NumPy only.

Exact: the scores are bit for bit those of Theano's deterministic pass on the exporting machine
(docs/EXPORT.md, "Exactness"). The first layer is float32 (real inputs times ±1 weights, through the sgemm
Theano calls); every later layer is integer arithmetic on sign bits; each hidden unit is +1 iff its integer
pre-activation reaches its threshold; max-pooling takes the integer pre-activations (trap 8); the output
layer's scores are read from the exported table of Theano's own batch norm outputs.
"""
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from deploy import kernels, layout
from harness.errors import UserError


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


def _read_layer(data: np.lib.npyio.NpzFile, index: int) -> Layer:
    def get(key: str, default: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        name = "layer%d/%s" % (index, key)
        return data[name] if name in data else default

    kind, role, fan_in = str(get("kind")), str(get("role")), int(get("fan_in"))
    input_shape, weights = _ints(get("input_shape")), get("weights")
    if role == "first":  # unpacked once: float32 ±1 in the layout Theano hands to sgemm
        signs = layout.signs(layout.unpack(weights, fan_in if kind == "dense" else input_shape[0]))
        weights = signs.T if kind == "dense" else signs.transpose(0, 3, 1, 2).reshape(len(signs), -1)
    return Layer(kind, role, fan_in, input_shape, _ints(get("output_shape")), np.ascontiguousarray(weights),
                 get("flipped"), get("threshold"), get("table"), _ints(get("filter_size", (1, 1))),
                 _ints(get("pad", (0, 0))), _ints(get("pool_size", (1, 1))))


def sgemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in float32 summed as Theano's Dot22 and CorrMM sum it (one sgemm call of the same BLAS).

    NumPy hands a product with a single row or column to sgemv, which sums in another order (it changed 92 % of a
    784 -> 4096 layer's outputs in the last bit); such a product gets a duplicate row or column, dropped after.
    """
    rows, columns = a.shape[0], b.shape[1]
    a = np.concatenate([a, a]) if rows == 1 else a
    b = np.concatenate([b, b], axis=1) if columns == 1 else b
    return (a @ b)[:rows, :columns]


def _first_preactivation(layer: Layer, X: np.ndarray) -> np.ndarray:
    """z' = x . w' (float32): (N, units), or (N, out_h, out_w, filters) for a convolution computed as CorrMM
    does: zero-padded image patches (channel, row, column) times the flipped filters, one image at a time."""
    if layer.kind == "dense":
        return sgemm(X.reshape(len(X), -1), layer.weights)
    (kh, kw), (ph, pw) = layer.filter_size, layer.pad
    padded = np.pad(X, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    patches = sliding_window_view(padded, (kh, kw), axis=(2, 3)).transpose(0, 1, 4, 5, 2, 3)
    out_h, out_w = patches.shape[-2:]
    columns = np.ascontiguousarray(patches).reshape(len(X), -1, out_h * out_w)
    z = np.stack([sgemm(layer.weights, image) for image in columns])
    return z.reshape(len(X), -1, out_h, out_w).transpose(0, 2, 3, 1)


def _pool(layer: Layer, pre: np.ndarray) -> np.ndarray:
    """Max-pooling of the true pre-activation s = -s' for flipped filters (so min of s' for those), then back
    to s'. The bias add and batch norm that follow in Theano are monotone: pooling first is exact (trap 8)."""
    ph, pw = layer.pool_size
    if (ph, pw) == (1, 1):
        return pre
    orient = np.where(layer.flipped, -1, 1).astype(pre.dtype)
    images, height, width, channels = pre.shape
    s = (pre[:, :height - height % ph, :width - width % pw] * orient)  # ignore_border=True
    return s.reshape(images, height // ph, ph, width // pw, pw, channels).max(axis=(2, 4)) * orient


def _packed_input(layer: Layer, bits: np.ndarray) -> np.ndarray:
    """The previous stage's sign bits packed for ``layer``: each pixel's channels for a convolution, the
    channel-major flattening (C, H, W) of feature maps for a dense layer (trap 24)."""
    if layer.kind == "dense" and bits.ndim == 4:
        bits = bits.transpose(0, 3, 1, 2).reshape(len(bits), -1)
    return layout.pack(bits)


class PackedNetwork:
    """A runnable deploy file in memory, with its popcount backend (deploy.kernels)."""

    def __init__(self, layers: List[Layer], input_shape: Tuple[int, ...], backend: kernels.Kernels) -> None:
        self.layers = layers
        self.input_shape = input_shape
        self.backend = backend

    @classmethod
    def load(cls, path: Union[str, Path], backend: str = "auto") -> "PackedNetwork":
        """Read a deploy file (allow_pickle=False). ``backend``: 'auto' (C if it builds, else NumPy), 'c' or
        'numpy'. UserError if the file is not a runnable deploy file."""
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data or str(data["format"]) != layout.FORMAT:
                raise UserError("%s is not a %s file (deploy.export writes them)" % (path, layout.FORMAT))
            if int(data["version"]) != layout.VERSION:
                raise UserError("%s has format version %d; this engine reads version %d"
                                  % (path, int(data["version"]), layout.VERSION))
            if not bool(data["runnable"]):
                raise UserError("%s cannot be run: %s" % (path, str(data["note"])))
            layers = [_read_layer(data, index) for index in range(int(data["num_layers"]))]
            input_shape = tuple(int(size) for size in data["input_shape"])
        return cls(layers, input_shape, kernels.select(backend))

    def _run(self, X: np.ndarray, keep: bool) -> Tuple[np.ndarray, List[np.ndarray]]:
        X = np.asarray(X, dtype=np.float32)
        if X.shape[1:] != self.input_shape:
            raise UserError("inputs of shape %s; this network takes (N,) + %s" % (X.shape, self.input_shape))
        kept = []
        bits = None
        for layer in self.layers:
            if layer.role == "first":
                pre = _first_preactivation(layer, X)
            elif layer.kind == "conv":
                pre = self.backend.conv_dot(_packed_input(layer, bits), layer.weights, layer.input_shape[0], layer.pad)
            else:
                s = self.backend.dense_dot(_packed_input(layer, bits), layer.weights, layer.fan_in)
                if layer.role == "output":
                    return layer.table[np.arange(len(layer.table)), (s + layer.fan_in) // 2], kept
                pre = s
            bits = _pool(layer, pre) >= layer.threshold
            if keep:
                kept.append(np.where(bits.transpose(0, 3, 1, 2) if bits.ndim == 4 else bits, 1, -1).astype(np.int8))
        raise UserError("the file has no output layer")

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
