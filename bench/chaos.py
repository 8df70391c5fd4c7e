"""Long chaos runs for release checks: ``python bench/chaos.py --minutes 30``.

Prints the report (see ``upbit_hub.actors.emulator.chaos``) and a final ``key=value`` line;
exits 1 if a promise failed. ``--quick`` runs one minute.
"""

from __future__ import annotations

import argparse
import logging
import sys

from upbit_hub.actors.emulator.chaos import run_chaos


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true", help="one minute")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-every", type=float, default=8.0,
                    help="mean seconds between faults (default 8)")
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--min-live", type=float, default=0.999)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    minutes = 1.0 if args.quick else args.minutes
    report = run_chaos(minutes * 60.0, seed=args.seed, fault_every=args.fault_every,
                       rate=args.rate, min_live_fraction=args.min_live)
    print(f"chaos run: {minutes:g} min, fault every ~{args.fault_every:g} s, seed {args.seed}")
    for problem in report.problems:
        print("FAILED:", problem)
    print("OK" if report.ok else "NOT OK")
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
