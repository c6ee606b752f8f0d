#!/usr/bin/env python3
"""Build an ImageNet-1k evaluation set for fgq from GitHub's EliSchwartz/imagenet-sample-images
(one JPEG per ImageNet-1k class, 1000 images, names like n01440764_tench.JPEG).

Input (--src): that repository as a folder (checkout) or as a bare git directory (blobs are read
with `git cat-file`, nothing extracted).
Output (--out, default $FGQ_CACHE/imagenet):
  val_<S>_x.npy      uint8 [1000, 3, S, S] NCHW RGB
  val_<S>_y.npy      int64 [1000] label = index of the image's synset (wnid) in the sorted list of
                     the 1000 synsets = the standard ImageNet-1k class index (n01440764 tench = 0,
                     n01443537 goldfish = 1, n15075141 toilet tissue = 999; checked below)
  val_<S>_files.txt  the source file name of each row
  synsets.txt        the 1000 wnids in index order, with the name part of the file name

Preprocessing = the EfficientNet(-Lite) reference eval pipeline (tensorflow/tpu
models/official/efficientnet/preprocessing.py, _decode_and_center_crop): take the central square
crop of side int(S / (S + 32) * min(H, W)) (offset ((H - c + 1) // 2, (W - c + 1) // 2)), resize it
to S x S with bicubic (PIL's BICUBIC here; TF uses tf.image.resize bicubic, so pixels differ
slightly). For S = 224 that crop fraction is 0.875, the usual "resize to S/0.875, center-crop S";
for 240 it is 0.882 and for 260 0.890. Normalisation is left to the model's consumer:
EfficientNet-Lite wants (x - 127) / 128, i.e. fgq flags `--mean 127 --std 128`.
Note: the sample images are not the official ILSVRC2012 validation set (they are one image per
class picked by the repository's author, likely from the training set), so accuracies on them are
indicative only and not comparable with published val top-1.

Usage: python3 scripts/realdata/imagenet_sample_prepare.py --src DIR_OR_GITDIR --size 240 [--out DIR]
"""
import argparse
import io
import os
import re
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cache_dir, iter_files  # noqa: E402

CROP_PADDING = 32
KNOWN = {"n01440764": 0, "n01443537": 1, "n01530575": 10, "n02085620": 151, "n02123045": 281,
         "n03000134": 489, "n04597913": 910, "n15075141": 999}  # tench, goldfish, brambling,
# Chihuahua, tabby cat, chainlink fence, wooden spoon, toilet tissue


def center_crop_resize(img, size):
    w, h = img.size
    c = int(size / (size + CROP_PADDING) * min(h, w))
    oy, ox = (h - c + 1) // 2, (w - c + 1) // 2
    return img.resize((size, size), Image.BICUBIC, box=(ox, oy, ox + c, oy + c))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="imagenet-sample-images folder or bare git directory")
    ap.add_argument("--size", type=int, required=True, help="output side S (240 for Lite1, 260 for Lite2)")
    ap.add_argument("--out", default=os.path.join(cache_dir(), "imagenet"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    rows = []
    for path, data in iter_files(args.src, (".jpeg", ".jpg")):
        name = os.path.basename(path)
        m = re.match(r"(n\d{8})_?(.*)\.(jpe?g)$", name, re.I)
        if not m:
            continue
        img = Image.open(io.BytesIO(data)).convert("RGB")
        rows.append((m.group(1), m.group(2), name, np.asarray(center_crop_resize(img, args.size), dtype=np.uint8)))
    rows.sort(key=lambda r: r[0])
    wnids = sorted({r[0] for r in rows})
    if len(wnids) != 1000:
        raise SystemExit("found %d synsets, expected 1000: the label index would not be ImageNet-1k's" % len(wnids))
    index = {w: i for i, w in enumerate(wnids)}
    for w, i in KNOWN.items():
        if index.get(w) != i:
            raise SystemExit("label check failed: %s -> %s, expected %d" % (w, index.get(w), i))
    x = np.stack([r[3] for r in rows]).transpose(0, 3, 1, 2).copy()
    y = np.array([index[r[0]] for r in rows], dtype=np.int64)
    s = args.size
    np.save(os.path.join(args.out, "val_%d_x.npy" % s), x)
    np.save(os.path.join(args.out, "val_%d_y.npy" % s), y)
    with open(os.path.join(args.out, "val_%d_files.txt" % s), "w") as f:
        f.write("".join(r[2] + "\n" for r in rows))
    names = {r[0]: r[1] for r in rows}
    with open(os.path.join(args.out, "synsets.txt"), "w") as f:
        f.write("".join("%s %s\n" % (w, names[w]) for w in wnids))
    print("val_%d: x %s %s, y %s (labels 0..%d), label checks %s passed; %.1f s" % (
        s, x.shape, x.dtype, y.shape, y.max(), sorted(KNOWN), time.time() - t0))


if __name__ == "__main__":
    main()
