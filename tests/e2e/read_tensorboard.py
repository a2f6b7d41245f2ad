"""Reads a folder of TensorBoard event files the way TensorBoard does (its EventAccumulator,
with orphaned data purged) and prints what it found as JSON: scalars as [step, value] and
images as [step, width, height, PNG bytes, decoded width, decoded height] (decoded by Pillow),
by tag.

    .venv-test/bin/python tests/e2e/read_tensorboard.py experiments/demo/tensorboard
"""
import io
import json
import sys

from PIL import Image

from tensorboard.backend.event_processing import event_accumulator as ea

acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
acc.Reload()
tags = acc.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string),
                    *Image.open(io.BytesIO(e.encoded_image_string)).size]
                   for e in acc.Images(t)] for t in tags["images"]},
}))
