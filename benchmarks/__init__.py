"""resphase benchmarks; each module runs as `python -m benchmarks.<name>` (see docs/benchmarks.md)."""
