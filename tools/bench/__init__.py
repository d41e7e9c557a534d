"""The parts of ``tools/benchmark.py``: ``harness`` (timing, memory, rows),
``contenders`` (the networks compared), and one module per kind of row:
``eager``, ``compiled``, ``deployed``, ``detector``, ``extreme``,
``profiling``."""
