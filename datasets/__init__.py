"""pylearn2's datasets, reimplemented with the same semantics (docs/REPRODUCTION.md §3).

Files live under ``$PYLEARN2_DATA_PATH`` in pylearn2's layout; ``python -m datasets.download`` fetches them.
"""
