"""Make the 2016 stack (Theano 1.0.5, Lasagne 0.1) run on Debian bookworm's Python 3.11 and NumPy 1.24.

Import this package before ``theano`` or ``lasagne`` (``binarynet`` and ``binaryconnect`` do it first
thing). Each shim names the breakage it fixes; docs/STACK.md has the background.
"""
from compat import numpy_aliases, theano_flags

numpy_aliases.restore()
theano_flags.set_defaults()

from compat import downsample  # noqa: E402  (imports theano: must come after the two fixes above)

downsample.register()
