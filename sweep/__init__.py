"""Seed sweeps: one experiment run with several seeds, one ordinary run folder per seed under one sweep folder.

``plan`` says what a sweep is (its folder, its runs' command lines, ``sweep.json``), ``slurm`` submits it as one
Slurm job array, ``local`` runs it on this machine, ``run`` and ``status`` are the commands (``make sweep``,
``make sweep-status``). ``make compare`` then groups the seeds of a sweep (results/compare.py).
"""
