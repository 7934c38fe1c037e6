"""Use a trained BinaryNet: export it as packed sign bits with batch norm folded into integer thresholds
(deploy.export), run the file with XNOR + popcount (deploy.engine), and count its bits (deploy.summary).

docs/EXPORT.md describes the file format and how the thresholds are derived. deploy.engine and deploy.layout
need NumPy only; deploy.export and deploy.summary read Lasagne networks (REPRODUCTION.md §1, §2).
"""


class ExportError(Exception):
    """A network or file this package cannot export or run, with the reason and what to change."""
