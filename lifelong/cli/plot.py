"""``lifelong-plot RESULTS.h5 [--out STEM]``: the figure of a results file (real-time: human vs model;
life-long: the learning curve)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..life_long import figure as lifelong_figure
from ..life_long import results as lifelong_results
from ..realtime.figure import save_figure
from ..realtime.results import read_results
from .errors import EXIT_USER_ERROR, USER_ERRORS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lifelong-plot", description=__doc__)
    ap.add_argument("results", type=Path, help="a results.h5 written by lifelong-run")
    ap.add_argument("--out", type=Path, default=None, help="output stem (default: beside the results file)")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    try:
        if lifelong_results.is_lifelong_file(args.results):
            res = lifelong_results.read_results(args.results)
            stem = args.out or args.results.with_name("learning_curve")
            paths = lifelong_figure.save_curve(res, stem, title=args.title or "")
            for p in paths:
                print(p)
            return 0
        res = read_results(args.results)
        stem = args.out or args.results.with_name("realtime_vs_humans")
        paths = save_figure(res, stem, title=args.title or f"{res.attrs.get('algorithm', 'model')} vs humans")
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
