"""Shim: default Theano flags this stack needs, set in ``THEANO_FLAGS`` before Theano is imported.

* ``blas.ldflags=-lopenblas``: without an explicit value Theano 1.0.5 guesses from ``numpy.distutils``'
  build configuration. docs/STACK.md (item 1) saw ``import theano`` fail there (no ``blas_opt_info``);
  with Debian bookworm's NumPy 1.24.2 it falls back to the generic ``-lblas`` instead. Naming OpenBLAS
  makes the choice explicit and the same everywhere.
* ``floatX=float32``: the originals ran in float32 (docs/REPRODUCTION.md §4 trap 25); Theano's default is float64.

A flag the user already gives in ``THEANO_FLAGS`` is left as it is (e.g. ``floatX=float64``).
Settings in a ``.theanorc`` file are overridden for these two flags only.
"""

import os
from typing import Dict, MutableMapping

DEFAULTS: Dict[str, str] = {"floatX": "float32", "blas.ldflags": "-lopenblas"}


def set_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Prepend the default flags that ``environ['THEANO_FLAGS']`` does not set already."""
    given = environ.get("THEANO_FLAGS", "")
    named = {item.split("=", 1)[0].strip() for item in given.split(",") if item.strip()}
    missing = ["%s=%s" % (name, value) for name, value in DEFAULTS.items() if name not in named]
    environ["THEANO_FLAGS"] = ",".join(missing + ([given] if given else []))
