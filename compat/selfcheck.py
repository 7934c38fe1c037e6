"""``python -m compat.selfcheck [--require-gpu]``: print the stack's versions and whether Theano uses a GPU.

Exits 1 with ``--require-gpu`` when Theano is not on a GPU, saying what usually causes it.
"""

import compat  # noqa: F401  (must precede theano and lasagne)

import platform
import sys
from typing import List, Optional

import lasagne
import numpy
import theano
import theano.tensor as T

from harness.errors import ArgumentParser, UserError, command

NO_GPU_HELP = (
    "Theano is not using a GPU. Set THEANO_FLAGS=device=cuda,dnn.enabled=False (the image does), "
    "start the container with `--gpus all` (NVIDIA Container Toolkit), and check that `nvidia-smi` "
    "works on the host (NVIDIA driver installed)."
)


def gpu_name() -> Optional[str]:
    """The GPU Theano computes on, or None; runs one small product to prove it."""
    if not getattr(getattr(theano, "gpuarray", None), "pygpu_activated", False):
        return None
    x = theano.shared(numpy.ones((64, 64), dtype=theano.config.floatX))
    f = theano.function([], T.dot(x, x).sum())
    if not any("Gpu" in type(node.op).__name__ for node in f.maker.fgraph.toposort()) or f() != 64**3:
        return None
    context = theano.gpuarray.type.get_context(None)
    return "%s (%s)" % (getattr(context, "devname", "?"), theano.config.device)


@command
def main(argv: Optional[List[str]] = None) -> None:
    parser = ArgumentParser(prog="python -m compat.selfcheck", description=__doc__.splitlines()[0])
    parser.add_argument("--require-gpu", action="store_true", help="fail unless Theano computes on a GPU")
    args = parser.parse_args(argv)
    try:
        import pygpu

        pygpu_version = pygpu.__version__
    except ImportError as error:
        pygpu_version = "not importable (%s)" % error
    print("Python   %s (%s)" % (platform.python_version(), sys.executable))
    print("NumPy    %s" % numpy.__version__)
    print(
        "Theano   %s  device=%s floatX=%s blas.ldflags=%s"
        % (theano.__version__, theano.config.device, theano.config.floatX, theano.config.blas.ldflags)
    )
    print("Lasagne  %s" % lasagne.__version__)
    print("pygpu    %s" % pygpu_version)
    gpu = gpu_name()
    print("GPU      %s" % (gpu or "none"))
    if args.require_gpu and gpu is None:
        raise UserError(NO_GPU_HELP)


if __name__ == "__main__":
    raise SystemExit(main())
