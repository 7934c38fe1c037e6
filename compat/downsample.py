"""Shim: Lasagne 0.1 imports ``theano.tensor.signal.downsample``, which Theano 0.9 removed.

The module is registered again with the one function Lasagne 0.1 calls, ``max_pool_2d``, forwarded to its
successor ``theano.tensor.signal.pool.pool_2d`` (same operation, renamed arguments).
"""

import sys
import types

import theano.tensor.signal
from theano.tensor.signal import pool

MODULE_NAME = "theano.tensor.signal.downsample"


def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
    """The Theano 0.8 signature, forwarded to ``pool_2d(input, ws, ignore_border, stride, pad, mode)``."""
    return pool.pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)


def register() -> None:
    """Make ``from theano.tensor.signal import downsample`` work (idempotent)."""
    if MODULE_NAME in sys.modules:
        return
    module = types.ModuleType(MODULE_NAME, __doc__)
    module.max_pool_2d = max_pool_2d
    sys.modules[MODULE_NAME] = module
    theano.tensor.signal.downsample = module
