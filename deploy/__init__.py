"""Use a trained BinaryNet: export it as packed sign bits with batch norm folded into integer thresholds
(deploy.export), run the file with XNOR + popcount (deploy.engine), classify image files (deploy.predict), and count
its bits (deploy.summary). docs/EXPORT.md describes the file format, how the thresholds are derived and the engine.

The runtime (deploy.engine, deploy.kernels with popcount.c and popcount.h, deploy.first_order, deploy.layout,
deploy.pixels, deploy.errors) needs NumPy and a C compiler only and raises deploy.errors.DeployError; the rest reads
Lasagne networks (docs/REPRODUCTION.md §1, §2) and raises the harness's UserError, as every command does.
"""
