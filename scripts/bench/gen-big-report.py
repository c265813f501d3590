#!/usr/bin/env python3
"""Generates a large Trivy JSON report for the scan benchmark.

The fixture report's vulnerabilities, repeated as 20 variants per target across 300 targets
(48,000 findings, about 77 MB with indent=2 as Trivy writes it): a big real-world image report.

usage: gen-big-report.py FIXTURE_REPORT OUT [TARGETS] [VARIANTS]
"""
import copy
import json
import sys

src, out = sys.argv[1], sys.argv[2]
targets = int(sys.argv[3]) if len(sys.argv) > 3 else 300
variants = int(sys.argv[4]) if len(sys.argv) > 4 else 20

base = json.load(open(src))
vulns = [v for r in base["Results"] for v in r.get("Vulnerabilities") or []]
results = []
for t in range(targets):
    vs = []
    for k in range(variants):
        for v in vulns:
            v = copy.deepcopy(v)
            v["VulnerabilityID"] = f'{v["VulnerabilityID"]}-{k:02d}'
            v["PkgName"] = f'{v["PkgName"]}-{t}'
            vs.append(v)
    results.append({"Target": f"app/lib{t}/package-lock.json", "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": vs})
base["Results"] = results
with open(out, "w") as f:
    json.dump(base, f, indent=2)
print(f"{out}: {targets * variants * len(vulns)} findings")
