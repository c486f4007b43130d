"""``lifelong-human-data``: convert the original .npy folder to HDF5, or show the human targets.

    lifelong-human-data convert SRC_FOLDER OUT.h5
    lifelong-human-data show [PATH]            # default: the shipped jia2021 file
"""

from __future__ import annotations

import argparse
import sys

from .convert import convert_jia2021
from .jia2021 import NAME, HumanData, HumanDataError, load


def format_effects(data: HumanData, components: bool = False) -> str:
    """Table of effect mean ± std (over bootstraps, ddof 0) per condition and test point."""
    header = f"{'condition':<10}" + "".join(f"{int(t):>16d}" for t in data.test_points)
    lines = [
        f"{data.name}: {data.source.get('citation', '')}",
        f"effect = exposed_big - control_big (delta-d'), mean ± std over {data.n_bootstrap} bootstraps "
        "(ddof 0); columns = exposures",
        header,
    ]
    rows = [(c, data.effects[c]) for c in data.conditions]
    if components:
        for part in ("exposed_big", "control_big", "exposed_small"):
            rows += [(f"{c}:{part}", getattr(data, part)[c]) for c in data.conditions]
    for label, arr in rows:
        cells = "".join(f"{m:>+9.3f} ± {s:.3f}" for m, s in zip(arr.mean(axis=1), arr.std(axis=1, ddof=0)))
        lines.append(f"{label:<10}{cells}" if len(label) <= 10 else f"{label}\n{'':<10}{cells}")
    return "\n".join(lines)


def _convert(args: argparse.Namespace) -> int:
    out = convert_jia2021(args.src, args.out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


def _show(args: argparse.Namespace) -> int:
    print(format_effects(load(args.path), components=args.components))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifelong-human-data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert the original human_behavioral_data/ folder to one HDF5 file")
    conv.add_argument("src", metavar="SRC_FOLDER")
    conv.add_argument("out", metavar="OUT.h5")
    conv.set_defaults(func=_convert)
    show = sub.add_parser("show", help="print effect means ± std per condition and test point")
    show.add_argument("path", metavar="PATH", nargs="?", default=NAME, help=f"data set name or .h5 file ({NAME})")
    show.add_argument("--components", action="store_true", help="also show exposed/control/small series")
    show.set_defaults(func=_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HumanDataError as exc:
        print(f"lifelong-human-data: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
