"""Benchmarks: commands that print figures (speed, memory); not tests."""
