"""Run every benchmark in turn (`make bench`): each runs its peers in the same process and
prints ratios.

Usage: ``python -m bench.run_all [--quick]``. Each benchmark is its own module and can be run alone
(``python -m bench.routing``, ``python -m bench.census``, ``python -m bench.siting``,
``python -m bench.roads_cn``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

BENCHES = ["bench.routing", "bench.census", "bench.siting", "bench.api", "bench.roads_cn",
           "bench.real_county", "bench.relief",
           "bench.batch"]


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    failed = []
    for name in BENCHES:
        if importlib.util.find_spec(name) is None:  # a benchmark not written yet
            continue
        args = [sys.executable, "-m", name]
        if quick and name != "bench.census":
            args.append("--quick")
        elif quick:
            args.append("100000")
        print(f"\n=== {name} {' '.join(args[3:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(args)
        print(f"=== {name}: exit {rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
