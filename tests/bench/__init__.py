"""The mktows benchmark suite: correctness-checked timings against zeep, suds and bare floors.

Not part of the test run (pytest ignores tests/bench); run ``python -m tests.bench``.
"""
