# Makefile: entry points of the benchmark suite only (the build is CMake; see README.md).
# `make bench` measures (wrk -t1 -c64 -d10s, median of 3) and writes bench/out/report.md and
# bench/out/chart.svg; `make bench-memory` runs the long memory check (1M SQLite sessions, a
# 10-minute load). BENCH_ARGS passes extra flags to bench/run.py (see bench/run.py --help).
PYTHON ?= python3
BENCH_ARGS ?=

.PHONY: bench bench-memory

bench:
	$(PYTHON) bench/run.py $(BENCH_ARGS)

bench-memory:
	$(PYTHON) bench/run.py --memory $(BENCH_ARGS)
