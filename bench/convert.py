"""Conversion time and peak memory of `slem-dft convert` (prints a Markdown table).

    python bench/convert.py [--data ../shared/data] [--jobs 1 2]

Each case runs in a fresh process; peak memory is the largest resident set of that process
and of any worker it started (getrusage). Checks are on, as in a normal conversion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from slem_dft.convert import convert_runs
from slem_dft.store import Store
args = json.loads(sys.argv[1])
t = time.perf_counter()
result = convert_runs(args["runs"], args["out"], jobs=args["jobs"], progress=False)
wall = time.perf_counter() - t
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
nnz = sum(op.values.size for r in Store(args["out"]) for op in r.operators.values())
print(json.dumps(dict(wall=wall, peak_mb=peak / 1024, written=result.written, failures=result.failures, nnz=nnz)))
"""


def _case(runs: list[Path], jobs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.h5")
        payload = json.dumps(dict(runs=[os.fspath(r) for r in runs], out=out, jobs=jobs))
        proc = subprocess.run([sys.executable, "-c", _CHILD, payload], capture_output=True, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    si8 = sorted((args.data / "generated/abacus/si8_dzp").glob("frame_*"))
    if not si8:
        sys.exit(f"no si8_dzp frames under {args.data}: pass --data")
    cases = [("si8_dzp frame_000 (largest single run)", si8[:1], 1)]
    cases += [(f"si8_dzp, all {len(si8)} frames", si8, jobs) for jobs in args.jobs]
    print("| case | structures | block elements (H+S+DM) | jobs | wall time (s) | per structure (s) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|")
    for name, runs, jobs in cases:
        r = _case(runs, jobs)
        if r["failures"]:
            sys.exit(f"{name}: conversion failed: {r['failures']}")
        print(
            f"| {name} | {r['written']} | {r['nnz']:,} | {jobs} | {r['wall']:.2f} | {r['wall'] / r['written']:.2f} "
            f"| {r['peak_mb']:.0f} |"
        )
    print(f"\npython {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
