"""The search-quality benchmark harness: methods, runner, metrics, results and report.

``python -m benchmarks.run --suite quick`` runs a suite and writes
``docs/benchmarks/search-quick.md``; ``python -m benchmarks.report --data FILE`` rebuilds
a report from saved data. See ``benchmarks/README.md``.
"""
