"""Make the 2016 stack (Theano 1.0.5, Lasagne 0.1) run on Debian bookworm's Python 3.11 and NumPy 1.24.

Import this package before ``theano`` or ``lasagne`` (``binarynet`` and ``binaryconnect`` do it first
thing). Each shim names the breakage it fixes; docs/STACK.md has the background.
"""

from compat import numpy_aliases, theano_flags

numpy_aliases.restore()
theano_flags.set_defaults()

from compat import theano_start  # noqa: E402

theano_start.start("compat.downsample")  # imports theano (after the two fixes above): one line if it cannot start

from compat import downsample  # noqa: E402

downsample.register()
