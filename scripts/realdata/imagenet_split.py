#!/usr/bin/env python3
"""Splits the one-per-class ImageNet sample (imagenet_sample_prepare.py's val_<S>_x/y.npy) into
calibration and evaluation sets for scripts/accuracy_real.py: every 5th image (200, all kinds of
classes) calibrates, the other 800 evaluate, so no image is used for both.

  scripts/realdata/imagenet_split.py [--dir $FGQ_CACHE/imagenet] [--sizes 240,260]

Writes calib_<S>_x.npy, eval_<S>_x.npy and eval_<S>_y.npy beside the inputs.
"""
import argparse
import os

import numpy as np

from _common import cache_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(cache_dir(), "imagenet"))
    ap.add_argument("--sizes", default="240,260")
    a = ap.parse_args()
    for s in (int(v) for v in a.sizes.split(",")):
        x = np.load(os.path.join(a.dir, "val_%d_x.npy" % s), mmap_mode="r")
        y = np.load(os.path.join(a.dir, "val_%d_y.npy" % s))
        idx = np.arange(len(x))
        calib, ev = idx[::5], np.setdiff1d(idx, idx[::5])
        np.save(os.path.join(a.dir, "calib_%d_x.npy" % s), np.ascontiguousarray(x[calib]))
        np.save(os.path.join(a.dir, "eval_%d_x.npy" % s), np.ascontiguousarray(x[ev]))
        np.save(os.path.join(a.dir, "eval_%d_y.npy" % s), y[ev])
        print("size %d: %d calibration, %d evaluation images" % (s, len(calib), len(ev)))


if __name__ == "__main__":
    main()
