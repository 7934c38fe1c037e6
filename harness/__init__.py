"""What both papers' scripts share beneath them: settings and flags, the run folder, checkpoint, per-epoch log,
console and progress, the run manifest, atomic files and the one user-error path (docs/REPRODUCTION.md §1.10-§1.12).

Nothing here imports ``binarynet`` or ``binaryconnect``; ``datasets`` uses only ``errors`` and ``files``.
"""
