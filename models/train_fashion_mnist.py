#!/usr/bin/python3
"""Train and export the bundled Fashion-MNIST classifier with live dropout.

Run with Debian's interpreter (not needed by CI or users, who get the committed .onnx):
    apt-get install python3-torch python3-onnx dataset-fashion-mnist python3-pil
    /usr/bin/python3 models/train_fashion_mnist.py

With no arguments it trains the bundled model's recipe and writes models/fashion-mnist-mc.onnx,
models/card.json (the figures in models/README.md) and the sample images in fixtures/samples/
with fixtures/samples.csv (their true labels). --seed, --epochs, --output and --card make other
members of the same architecture (models/README.md, "Ensemble members"); --no-samples leaves
the sample images alone.
Preprocessing matches the CLI's defaults for this model: 28x28 grayscale -> PIL bilinear
resize to 32x32 -> replicate to RGB -> /255 -> ImageNet mean/std, NCHW.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = "/usr/share/datasets/fashion-mnist"
SIZE = 32
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DROPOUT_FEATURES = 0.25  # before the first fully connected layer
DROPOUT_HIDDEN = 0.5     # before the classifier
EPOCHS = 10
SEED = 20261122
MIN_ACCURACY = 0.91


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def resize_all(images):
    """PIL bilinear 28x28 -> SIZE x SIZE, exactly what the CLI's sharp pipeline approximates."""
    out = np.empty((len(images), SIZE, SIZE), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img, "L").resize((SIZE, SIZE), Image.BILINEAR))
    return out


def to_input(gray_u8):
    """uint8 [N, H, W] -> normalized float32 [N, 3, H, W] (grayscale replicated)."""
    x = torch.from_numpy(gray_u8).float().div_(255.0).unsqueeze(1).expand(-1, 3, -1, -1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


class FashionNet(nn.Module):
    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, 32), nn.MaxPool2d(2),              # 16x16
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),  # 8x8
            *block(64, 128), nn.MaxPool2d(2),            # 4x4
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(DROPOUT_FEATURES),
            nn.Linear(128 * 4 * 4, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT_HIDDEN),
            nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.head(self.features(x))


def dropout_live(model):
    """Eval everywhere (BatchNorm frozen), train only the dropout modules: MC dropout."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    return model


def calibration(probs, labels, bins=15):
    conf, pred = probs.max(1)
    acc = (pred == labels).float()
    nll = -torch.log(probs[torch.arange(len(labels)), labels].clamp_min(1e-12)).mean().item()
    ece = 0.0
    edges = torch.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.float().mean().item() * abs(acc[inside].mean().item() - conf[inside].mean().item())
    return {"accuracy": acc.mean().item(), "nll": nll, "ece15": ece}


def mc_probs(model, x, passes):
    """Mean softmax over `passes` with live dropout. The trunk is deterministic, so run it once."""
    dropout_live(model)
    out = torch.zeros(len(x), 10)
    with torch.no_grad():
        for start in range(0, len(x), 1000):
            feats = model.features(x[start:start + 1000])
            acc = torch.zeros(len(feats), 10)
            for _ in range(passes):
                acc += F.softmax(model.head(feats), dim=1)
            out[start:start + 1000] = acc / passes
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train and export a Fashion-MNIST CNN with live dropout.")
    parser.add_argument("--seed", type=int, default=SEED, help=f"torch and numpy seed (default {SEED}, the bundled model's)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"epochs over the training set; the one-cycle schedule spans them all (default {EPOCHS})")
    parser.add_argument("--output", default=os.path.join(HERE, "fashion-mnist-mc.onnx"),
                        help="ONNX file to write (default models/fashion-mnist-mc.onnx)")
    parser.add_argument("--card", default=os.path.join(HERE, "card.json"),
                        help="model card JSON to write (default models/card.json)")
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1),
                        help="torch CPU threads (default: every core)")
    parser.add_argument("--min-accuracy", type=float, default=MIN_ACCURACY,
                        help=f"export nothing below this deterministic test accuracy (default {MIN_ACCURACY})")
    parser.add_argument("--samples", action=argparse.BooleanOptionalAction, default=True,
                        help="write fixtures/samples/ and fixtures/samples.csv (default yes)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}")
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}")
    return args


def main():
    args = parse_args()
    begun = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    train_x = resize_all(read_idx("train-images-idx3-ubyte.gz"))
    train_y = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    test_raw = read_idx("t10k-images-idx3-ubyte.gz")
    test_x = to_input(resize_all(test_raw))
    test_y = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))

    model = FashionNet()
    batch = 128
    steps = args.epochs * math.ceil(len(train_x) / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    all_train = to_input(train_x)
    for epoch in range(args.epochs):
        model.train()
        started = time.time()
        order = torch.randperm(len(all_train))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            x = all_train[idx]
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(3)
            # random translation by up to 2 pixels (pad with the background value of black)
            dx, dy = np.random.randint(-2, 3, size=2)
            x = torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))
            loss = F.cross_entropy(model(x), train_y[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(test_x).argmax(1) == test_y).float().mean().item()
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.3f} test acc {acc:.4f} ({time.time() - started:.0f}s)", flush=True)

    model.eval()
    with torch.no_grad():
        det = calibration(F.softmax(model(test_x), 1), test_y)
    card = {"deterministic": det,
            "mc_t10": calibration(mc_probs(model, test_x, 10), test_y),
            "mc_t50": calibration(mc_probs(model, test_x, 50), test_y),
            "test_images": len(test_y), "epochs": args.epochs, "seed": args.seed}
    print(json.dumps(card, indent=2))
    if det["accuracy"] < args.min_accuracy:
        sys.exit(f"deterministic test accuracy {det['accuracy']:.4f} is below the {args.min_accuracy} target; not exporting")

    export(model, args.output)
    params = sum(p.numel() for p in model.parameters())
    card["parameters"] = params
    card["file_bytes"] = os.path.getsize(args.output)
    os.makedirs(os.path.dirname(os.path.abspath(args.card)), exist_ok=True)
    with open(args.card, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    if args.samples:
        write_fixtures(test_raw, test_y.numpy())
    print(f"done in {time.time() - begun:.0f}s", flush=True)


def export(model, path):
    import onnx
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dropout_live(model)
    torch.onnx.export(
        model, torch.zeros(1, 3, SIZE, SIZE), path,
        opset_version=13,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    m = onnx.load(path)
    meta = {
        "mc_dropout.format": "1",
        "mc_dropout.labels": json.dumps(LABELS),
        "mc_dropout.mean": json.dumps(MEAN),
        "mc_dropout.std": json.dumps(STD),
        "mc_dropout.input_size": f"{SIZE}x{SIZE}",
        "mc_dropout.layout": "NCHW",
        "mc_dropout.channel_order": "RGB",
        "mc_dropout.resize": "stretch",
        "mc_dropout.interpolation": "bilinear",
        "mc_dropout.dropout_rates": json.dumps([DROPOUT_FEATURES, DROPOUT_HIDDEN]),
        "mc_dropout.output": "logits",
    }
    for key, value in meta.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    m.doc_string = "Fashion-MNIST CNN with live dropout for Monte Carlo inference (mc-dropout bundled model)"
    onnx.checker.check_model(m)
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    print("exported", path, os.path.getsize(path), "bytes; ops:", ops)


def write_fixtures(test_raw, test_y, per_class=5):
    """The first `per_class` test images of each class: 3 as PNG, 2 as JPEG (quality 95)."""
    folder = os.path.join(ROOT, "fixtures", "samples")
    os.makedirs(folder, exist_ok=True)
    rows = ["file,label,class_index,test_index"]
    for cls, name in enumerate(LABELS):
        slug = name.lower().replace("/", "-").replace(" ", "-")
        for k, index in enumerate(np.flatnonzero(test_y == cls)[:per_class]):
            ext = "png" if k < 3 else "jpg"
            file = f"{slug}-{index}.{ext}"
            img = Image.fromarray(test_raw[index], "L")
            img.save(os.path.join(folder, file), quality=95) if ext == "jpg" else img.save(os.path.join(folder, file))
            rows.append(f"samples/{file},{name},{cls},{index}")
    with open(os.path.join(ROOT, "fixtures", "samples.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
