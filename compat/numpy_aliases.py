"""Shim: NumPy 1.24 removed ``np.bool``, ``np.int``, ``np.float``, ``np.complex`` and ``np.object``.

Theano 1.0.5 still uses them (``getattr(numpy, 'bool')`` when mapping dtypes; ``np.complex`` in
``get_scalar_constant_value``, where the AttributeError is swallowed and silently breaks constant
folding: docs/REPRODUCTION.md §4 trap 27). They were plain aliases of the builtins, so they are restored as such.
"""

import numpy

REMOVED_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex, "object": object}


def restore() -> None:
    """Put the removed aliases back on the numpy module (a no-op where they still exist)."""
    for name, builtin in REMOVED_ALIASES.items():
        if name not in vars(numpy):
            setattr(numpy, name, builtin)
