# Label images with a `benthos export --format onnx` model, using onnxruntime, numpy and Pillow only.
# python onnxruntime_predict.py EXPORT_DIR/model.onnx IMAGE [IMAGE ...]
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
info = json.loads(session.get_modelmeta().custom_metadata_map["benthos"])
pre, size = info["preprocessing"], info["preprocessing"]["input_size"]
short = round(size / pre.get("crop_fraction", 0.875))  # resize the short side to this, then crop the centre
for path in sys.argv[2:]:
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = im.size
    im = im.resize((short, int(short * h / w)) if w <= h else (int(short * w / h), short), Image.BILINEAR)
    left, top = round((im.width - size) / 2), round((im.height - size) / 2)
    x = np.asarray(im.crop((left, top, left + size, top + size)), np.float32) / 255
    x = ((x - pre["mean"]) / pre["std"]).transpose(2, 0, 1)[None].astype(np.float32)
    z = session.run(None, {"input": x})[0][0] / info["temperature"]  # logits -> calibrated probabilities
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    print(f"{path},{info['classes'][p.argmax()]},{p.max():.4f}")
