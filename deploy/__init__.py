"""Use a trained BinaryNet: export it as packed sign bits with batch norm folded into integer thresholds
(deploy.export), run the file with XNOR + popcount (deploy.engine), and count its bits (deploy.summary).
What a user can fix (a network that cannot be exported, a file the engine cannot run) is a harness UserError.

docs/EXPORT.md describes the file format and how the thresholds are derived. deploy.engine and deploy.layout
need NumPy only; deploy.export and deploy.summary read Lasagne networks (docs/REPRODUCTION.md §1, §2).
"""

