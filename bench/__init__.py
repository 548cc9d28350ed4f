"""``make bench``: round trips and latency of the hot routes, sweeps, cold start, zip size.

Run with ``python -m bench.run`` (see ``bench/run.py`` for options). Not part of ``make test``;
``tests/bench/test_bench_smoke.py`` runs a tiny version so the harness keeps working.
"""
