#!/usr/bin/env python3
"""Generates a large Trivy JSON report for the scan benchmark.

The fixture report's vulnerabilities, repeated as 20 variants per target across 300 targets
(48,000 findings), with descriptions and references padded to the size real advisories have,
so the file is about 64 MB like a big real-world image report.

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
pad = " ".join(["This advisory text is padded to the length of a real one."] * 8)
results = []
for t in range(targets):
    vs = []
    for k in range(variants):
        for v in vulns:
            v = copy.deepcopy(v)
            v["VulnerabilityID"] = f'{v["VulnerabilityID"]}-{k:02d}'
            v["PkgName"] = f'{v["PkgName"]}-{t}'
            v["PkgPath"] = f"app/node_modules/{v['PkgName']}/package.json"
            v["Description"] = v["Description"] + " " + pad
            v["References"] = [f"https://example.invalid/advisory/{v['VulnerabilityID']}/{i}" for i in range(6)]
            v["CVSS"] = {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}}
            v["VendorSeverity"] = {"debian": 4, "nvd": 4}
            vs.append(v)
    results.append({"Target": f"app/lib{t}/package-lock.json", "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": vs})
base["Results"] = results
with open(out, "w") as f:
    json.dump(base, f, indent=2)
print(f"{out}: {targets * variants * len(vulns)} findings")
