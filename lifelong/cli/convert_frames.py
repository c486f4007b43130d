"""``lifelong-convert-frames``: convert SAYCam frame folders or a folder of videos into an HDF5 frame store.

  lifelong-convert-frames saycam --root R --num-frames-meta M --chunk-meta C [--chunks K] [--no-flip] --size S OUT.h5
  lifelong-convert-frames videos --folder F --fps 25 --size S --chunks K OUT.h5

An interrupted conversion leaves ``OUT.h5.partial``; the same command continues it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.errors import StimulusError
from streams.frame_store import convert_to_store
from streams.saycam import SAYCamFrames
from streams.video_files import VideoFolder

from .errors import EXIT_USER_ERROR


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lifelong-convert-frames", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="kind", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--size", type=int, required=True, help="side of the stored square frames (pixels)")
        p.add_argument("--batch", type=int, default=256, help="frames per write (default 256)")
        p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("out", type=Path, help="the frame store to write (.h5)")

    s = sub.add_parser("saycam", help="SAYCam frames in the authors' layout (<root>/Samcam/<video>/000001.jpg ...)")
    s.add_argument("--root", type=Path, required=True, help="the folder holding Samcam/")
    s.add_argument("--num-frames-meta", type=Path, required=True, help="num_frames_meta.txt")
    s.add_argument("--chunk-meta", type=Path, required=True, help="meta_for_sam_cont_ep100_fx.txt")
    s.add_argument("--chunks", type=int, default=None, help="convert only the first K chunks (default: all)")
    s.add_argument("--no-flip", action="store_true", help="the frames are already upright (do not flip them)")
    s.add_argument("--trust-meta-counts", action="store_true",
                   help="take the frame counts from the meta file instead of counting the JPEG files")
    common(s)

    v = sub.add_parser("videos", help="a folder of video files, in file-name order")
    v.add_argument("--folder", type=Path, required=True)
    v.add_argument("--fps", type=float, default=25.0, help="target frame rate (default 25)")
    v.add_argument("--chunks", type=int, required=True, help="number of chunks (epochs) to cut the stream into")
    common(v)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.kind == "saycam":
            source: SAYCamFrames | VideoFolder = SAYCamFrames(
                args.root, args.num_frames_meta, args.chunk_meta, args.size, chunks=args.chunks,
                flip_vertical=not args.no_flip, verify_counts=not args.trust_meta_counts,
            )
        else:
            source = VideoFolder(args.folder, args.fps, args.chunks)
        out = convert_to_store(source, args.out, args.size, batch=args.batch, progress=not args.quiet,
                               overwrite=args.overwrite)
    except StimulusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
