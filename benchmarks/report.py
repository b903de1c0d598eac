"""Rebuild a search benchmark report from saved data, without rerunning anything.

Usage::

    python -m benchmarks.report --data docs/benchmarks/data/search-quick.json.gz
                                [--out docs/benchmarks]
    python -m benchmarks.report --data docs/benchmarks/data/multi-fidelity.json.gz
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness.report import write_any_report
from benchmarks.harness.results import load


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="a results file written by `python -m benchmarks.run`")
    parser.add_argument("--out", type=Path, default=None,
                        help="report folder (default: the data file's parent's parent)")
    args = parser.parse_args(argv)
    data = load(args.data)
    out = args.out if args.out is not None else args.data.resolve().parent.parent
    path = write_any_report(data, out, data_path=str(args.data))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
