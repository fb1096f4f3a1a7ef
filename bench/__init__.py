"""Herald benchmark harness: run a benchmark as `python -m bench.<name>`."""
