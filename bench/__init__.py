"""Benchmarks for ``make bench``: each figure is ours against a bare baseline measured in the same run."""
