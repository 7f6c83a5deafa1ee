#!/usr/bin/env python
"""FP8 training comparison (issue 9): prints the markdown table of `sustainml fp8-bench`.

    .venv/bin/python scripts/bench_fp8.py                 # default tasks, all formats, 3 seeds (~6 min on 2 cores)
    .venv/bin/python scripts/bench_fp8.py --all --seeds 1 # also FordA and vgg1d
    .venv/bin/python scripts/bench_fp8.py --task ecg_baseline/ECG5000-adamw --format e5m2-b15 --fp32-classes o
"""
import sys

from sustainml.host.cli import main

if __name__ == "__main__":
    sys.exit(main(["fp8-bench", *sys.argv[1:]]))
