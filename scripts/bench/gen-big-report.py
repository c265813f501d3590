#!/usr/bin/env python3
"""Generates a large Trivy JSON report for the scan benchmark by replicating a real one.

The whole fixture report is kept (SchemaVersion, Metadata, every Results[] entry with its
Class and Type: the Debian OS packages and the secret) and its Results are repeated for
TARGETS copies of the image's contents. Within each copy every vulnerability comes in
VARIANTS versions (distinct IDs, as a big image has many CVEs), with all of Trivy's fields
(PkgIdentifier, Layer, DataSource, CVSS, References, ...). Defaults: 300 copies x 20
variants: 48,000 vulnerabilities and 600 secrets, about 77 MB with indent=2 as Trivy writes.

usage: gen-big-report.py FIXTURE_REPORT OUT [TARGETS] [VARIANTS]
"""
import copy
import json
import sys

src, out = sys.argv[1], sys.argv[2]
targets = int(sys.argv[3]) if len(sys.argv) > 3 else 300
variants = int(sys.argv[4]) if len(sys.argv) > 4 else 20

base = json.load(open(src))
results = []
counts = {}
for t in range(targets):
    for r in base["Results"]:
        r = copy.deepcopy(r)
        # `image.tar (debian 12.5)` -> `layer7/image.tar (debian 12.5)`; `/app/x` -> `/layer7/app/x`
        r["Target"] = f"layer{t}/{r['Target'].lstrip('/')}"
        if r.get("Vulnerabilities"):
            vs = []
            for k in range(variants):
                for v in r["Vulnerabilities"]:
                    v = copy.deepcopy(v)
                    v["VulnerabilityID"] = f'{v["VulnerabilityID"]}-{k:02d}'
                    v["PkgName"] = f'{v["PkgName"]}-{t}'
                    v["PkgID"] = f'{v["PkgName"]}@{v.get("InstalledVersion", "")}'
                    vs.append(v)
            r["Vulnerabilities"] = vs
        for key in ("Vulnerabilities", "Secrets", "Misconfigurations"):
            counts[key] = counts.get(key, 0) + len(r.get(key) or [])
        results.append(r)
base["Results"] = results
with open(out, "w") as f:
    json.dump(base, f, indent=2)
print(f"{out}: {len(results)} results, " + ", ".join(f"{n} {k.lower()}" for k, n in counts.items()))
