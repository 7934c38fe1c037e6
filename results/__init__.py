"""Reproduced test errors beside the papers' numbers: ``python -m results.compare`` (``make compare``)."""
