#!/usr/bin/env python3
"""Prints the median of every command in a hyperfine --export-json file (the figure the
benchmarks report: the machine is shared and noisy)."""
import json
import sys

for r in json.load(open(sys.argv[1]))["results"]:
    print("median %s: %.3f s" % (r["command"], r["median"]))
