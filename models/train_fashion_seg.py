#!/usr/bin/python3
"""Train and export the small Fashion-MNIST segmentation model with live dropout (issue #37).

Run with Debian's interpreter (not needed by CI or users, who get the committed .onnx):
    apt-get install python3-torch python3-onnx dataset-fashion-mnist python3-pil
    /usr/bin/python3 models/train_fashion_seg.py

With no arguments it trains the shipped model's recipe and writes models/fashion-seg-mc.onnx,
models/seg-card.json (the figures in models/README.md, "Segmentation model") and the fixtures
made by the same composer from the Fashion-MNIST TEST images (write_fixtures below):
fixtures/seg-samples/, fixtures/seg-samples-masks/, fixtures/seg-eval/{images,masks,masks-void}/.
--fixtures-only writes just those (no training); --no-fixtures leaves them alone.

The data: 64x64 RGB canvases, each a textured dark or light background with 1 to 3
Fashion-MNIST items (scaled 0.8-1.4, i.e. 22 to 39 pixels, PIL bilinear) at random positions,
each tinted one random colour that contrasts with the background. The class of a pixel is the
item's class + 1 where that item's ink (its resized grey level) is >= INK, else background 0;
later items are painted over earlier ones (in colour and in the mask). Training canvases use only
the 60,000 training images, fresh ones every epoch; every held-out canvas and fixture uses only
the 10,000 test images.
Preprocessing (recorded in the model's metadata, as for the bundled classifier): RGB, 64x64
(stretch, bilinear: a no-op for these canvases), /255, ImageNet mean/std, NCHW.
"""
import argparse
import csv
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
SIZE = 64
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
ITEM_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
LABELS = ["background"] + ITEM_LABELS  # class index = Fashion-MNIST label + 1
NUM_CLASSES = len(LABELS)
INK = 64            # resized item grey level (0-255) at or above which a pixel is the item's
SCALES = (0.8, 1.4)  # item size = round(28 * scale)
MAX_ITEMS = 3
MIN_CONTRAST = 80   # |luma(tint) - luma(background base)| at least this
DROPOUT = 0.3       # both Dropout modules of the decoder
SEED = 20261207
EPOCHS = 14
TRAIN_CANVASES = 10_000  # fresh canvases per epoch
TEST_CANVASES = 1_000    # held-out canvases (test images) for the figures
TEST_SEED = 7_000_001
SAMPLES_SEED = 7_000_002  # fixtures/seg-samples
EVAL_SEED = 7_000_003     # fixtures/seg-eval
MIN_PIXEL_ACCURACY = 0.90
MIN_MIOU = 0.50


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _upsample_matrix(k, n=SIZE):
    """[n, k] linear interpolation weights from k evenly spread knots to n pixels (ends included)."""
    pos = np.linspace(0, k - 1, n)
    lo = np.minimum(np.floor(pos).astype(int), k - 2)
    frac = pos - lo
    m = np.zeros((n, k))
    m[np.arange(n), lo] = 1 - frac
    m[np.arange(n), lo + 1] = frac
    return m


def _luma(rgb):
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def background(rng):
    """A dark or light textured background, float [SIZE, SIZE, 3], and its base colour."""
    dark = rng.random() < 0.5
    base = rng.uniform(5, 85, 3) if dark else rng.uniform(170, 250, 3)
    k = int(rng.integers(3, 7))
    m = _upsample_matrix(k)
    smooth = m @ rng.normal(0.0, 1.0, (k, k)) @ m.T                  # low-frequency blotches
    tone = rng.uniform(-1, 1, 3) * rng.uniform(5, 25)               # tinted per channel
    bg = base + smooth[..., None] * tone
    if rng.random() < 0.4:                                          # stripes
        theta, period = rng.uniform(0, math.pi), rng.uniform(4, 16)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        bg = bg + (rng.uniform(4, 15) * np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period))[..., None]
    bg = bg + rng.normal(0.0, rng.uniform(1, 8), (SIZE, SIZE, 1))    # grain
    return bg, base


def compose(rng, images, labels):
    """One canvas: uint8 RGB [SIZE, SIZE, 3], uint8 class mask [SIZE, SIZE], and its items."""
    canvas, base = background(rng)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    items = []
    for _ in range(int(rng.integers(1, MAX_ITEMS + 1))):
        index = int(rng.integers(len(images)))
        side = int(round(28 * rng.uniform(*SCALES)))
        grey = np.asarray(Image.fromarray(images[index], "L").resize((side, side), Image.BILINEAR))
        y, x = (int(v) for v in rng.integers(0, SIZE - side + 1, 2))
        while True:
            tint = rng.uniform(0, 255, 3)
            if abs(_luma(tint) - _luma(base)) >= MIN_CONTRAST:
                break
        alpha = grey.astype(np.float64)[..., None] / 255.0
        patch = canvas[y:y + side, x:x + side]
        canvas[y:y + side, x:x + side] = patch * (1 - alpha) + tint * alpha
        mask[y:y + side, x:x + side][grey >= INK] = labels[index] + 1
        items.append({"test_index": index, "class": int(labels[index]) + 1, "x": x, "y": y, "side": side,
                      "tint": [int(round(c)) for c in tint]})
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), mask, items


def compose_many(seed, count, images, labels):
    rng = np.random.default_rng(seed)
    xs = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    ys = np.empty((count, SIZE, SIZE), dtype=np.uint8)
    all_items = []
    for i in range(count):
        xs[i], ys[i], items = compose(rng, images, labels)
        all_items.append(items)
    return xs, ys, all_items


def void_border(mask):
    """VOC-style ignore band: 255 on background pixels 4-adjacent to an item, and on item pixels
    4-adjacent to an item of another class (both sides where items of different classes touch)."""
    out = mask.copy()
    padded = np.pad(mask, 1, mode="edge")
    neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    void = np.zeros(mask.shape, dtype=bool)
    for n in neighbours:
        void |= (mask == 0) & (n != 0)
        void |= (mask != 0) & (n != 0) & (n != mask)
    out[void] = 255
    return out


def to_input(rgb_u8):
    """uint8 [N, H, W, 3] -> normalized float32 [N, 3, H, W]."""
    x = torch.from_numpy(rgb_u8).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def conv_bn(cin, cout, stride=1, dilation=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FashionSeg(nn.Module):
    """A small U-Net-ish encoder-decoder. Encoder 64 -> 32 -> 16 -> 8 pixels (the last conv
    dilated 2, for a receptive field of about 60 pixels); the decoder goes back up to 32x32 with
    skip connections, then the head (Dropout, 1x1 classifier) and a final bilinear upsampling
    (align_corners=False) to the input size. Both Dropouts sit in the decoder: trunk() is
    everything before the first, run once per image in MC (as mc-dropout's trunk reuse does),
    tail() the rest, run once per pass."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn(3, 24, 2), conv_bn(24, 32))                # 32x32
        self.enc2 = nn.Sequential(conv_bn(32, 48, 2), conv_bn(48, 48))               # 16x16
        self.enc3 = nn.Sequential(conv_bn(48, 96, 2), conv_bn(96, 96, dilation=2))   # 8x8
        self.dec2 = conv_bn(96 + 48, 48)                                             # 16x16
        self.drop1 = nn.Dropout(DROPOUT)
        self.dec1 = conv_bn(48 + 32, 32)                                             # 32x32
        self.drop2 = nn.Dropout(DROPOUT)
        self.classifier = nn.Conv2d(32, NUM_CLASSES, 1)

    def trunk(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        return e1, d2

    def tail(self, e1, d2, size):
        d2 = self.drop1(d2)
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        logits = self.classifier(self.drop2(d1))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def forward(self, x):
        e1, d2 = self.trunk(x)
        return self.tail(e1, d2, x.shape[-2:])


def dropout_live(model):
    """Eval everywhere (BatchNorm frozen), train only the dropout modules: MC dropout."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()
    return model


def confusion(pred, truth):
    return torch.bincount((truth.reshape(-1).long() * NUM_CLASSES + pred.reshape(-1).long()),
                          minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


def scores(conf):
    """Pixel accuracy, mean IoU over the 11 classes (IoU per class from the summed confusion
    matrix of the whole set, as VOC does), and the per-class IoU."""
    conf = conf.double()
    tp = conf.diag()
    iou = tp / (conf.sum(0) + conf.sum(1) - tp).clamp_min(1)
    return {"pixel_accuracy": (tp.sum() / conf.sum()).item(), "miou": iou.mean().item(),
            "iou": {LABELS[c]: round(iou[c].item(), 4) for c in range(NUM_CLASSES)}}


def evaluate(model, x, y, passes=0, seed=0):
    """Deterministic (passes=0) or MC-mean-argmax scores on preprocessed x, masks y."""
    conf = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long)
    torch.manual_seed(seed)
    with torch.no_grad():
        for start in range(0, len(x), 200):
            xb = x[start:start + 200]
            if passes == 0:
                model.eval()
                pred = model(xb).argmax(1)
            else:
                dropout_live(model)
                e1, d2 = model.trunk(xb)  # deterministic, once
                acc = torch.zeros(len(xb), NUM_CLASSES, SIZE, SIZE)
                for _ in range(passes):
                    acc += F.softmax(model.tail(e1, d2, xb.shape[-2:]), 1)
                pred = acc.argmax(1)
            conf += confusion(pred, y[start:start + 200])
    model.eval()
    return scores(conf)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train and export the Fashion-MNIST segmentation model with live dropout.")
    parser.add_argument("--seed", type=int, default=SEED, help=f"torch and numpy seed (default {SEED}, the shipped model's)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs; the one-cycle schedule spans them all (default {EPOCHS})")
    parser.add_argument("--canvases", type=int, default=TRAIN_CANVASES,
                        help=f"fresh training canvases composed per epoch (default {TRAIN_CANVASES})")
    parser.add_argument("--output", default=os.path.join(HERE, "fashion-seg-mc.onnx"),
                        help="ONNX file to write (default models/fashion-seg-mc.onnx)")
    parser.add_argument("--card", default=os.path.join(HERE, "seg-card.json"),
                        help="model card JSON to write (default models/seg-card.json)")
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="torch CPU threads (default: every core)")
    parser.add_argument("--min-pixel-accuracy", type=float, default=MIN_PIXEL_ACCURACY,
                        help=f"export nothing below this deterministic held-out pixel accuracy (default {MIN_PIXEL_ACCURACY})")
    parser.add_argument("--min-miou", type=float, default=MIN_MIOU,
                        help=f"export nothing below this deterministic held-out mIoU (default {MIN_MIOU})")
    parser.add_argument("--fixtures", action=argparse.BooleanOptionalAction, default=True,
                        help="write the fixtures (seg-samples, seg-samples-masks, seg-eval) (default yes)")
    parser.add_argument("--fixtures-only", action="store_true", help="write the fixtures and exit (no training)")
    parser.add_argument("--save-state", metavar="PATH",
                        help="also save the trained state_dict here (torch.save), before the export floor is checked")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.canvases < 1 or args.threads < 1:
        parser.error("--epochs, --canvases and --threads must be positive integers")
    return args


def main():
    args = parse_args()
    begun = time.time()
    test_raw = read_idx("t10k-images-idx3-ubyte.gz")
    test_labels = read_idx("t10k-labels-idx1-ubyte.gz")
    if args.fixtures_only:
        write_fixtures(test_raw, test_labels)
        return
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    train_raw = read_idx("train-images-idx3-ubyte.gz")
    train_labels = read_idx("train-labels-idx1-ubyte.gz")
    tx, ty, _ = compose_many(TEST_SEED, TEST_CANVASES, test_raw, test_labels)
    test_x, test_y = to_input(tx), torch.from_numpy(ty)
    ex, ey, _ = compose_many(EVAL_SEED, 200, test_raw, test_labels)  # = fixtures/seg-eval
    eval_x, eval_y = to_input(ex), torch.from_numpy(ey)

    model = FashionSeg()
    batch = 64
    steps = args.epochs * math.ceil(args.canvases / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(args.epochs):
        started = time.time()
        # fresh canvases every epoch, from the training images only; seeded by (seed, epoch)
        cx, cy, _ = compose_many([args.seed, epoch], args.canvases, train_raw, train_labels)
        composed = time.time() - started
        x_all, y_all = to_input(cx), torch.from_numpy(cy).long()
        order = torch.randperm(len(x_all))
        model.train()
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            x, y = x_all[idx], y_all[idx]
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(3)
            y[flip] = y[flip].flip(2)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        s = evaluate(model, test_x[:500], test_y[:500])
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(order):.4f} held-out[:500] pixel acc {s['pixel_accuracy']:.4f} "
              f"mIoU {s['miou']:.4f} ({composed:.0f}s composing, {time.time() - started:.0f}s)", flush=True)

    det = evaluate(model, test_x, test_y)
    card = {"held_out": {"canvases": TEST_CANVASES, "seed": TEST_SEED, "deterministic": det,
                         "mc_t10": evaluate(model, test_x, test_y, passes=10, seed=1),
                         "mc_t50": evaluate(model, test_x, test_y, passes=50, seed=2)},
            "seg_eval_200": {"deterministic": evaluate(model, eval_x, eval_y),
                             "mc_t10": evaluate(model, eval_x, eval_y, passes=10, seed=3)},
            "epochs": args.epochs, "canvases_per_epoch": args.canvases, "seed": args.seed, "torch": torch.__version__}
    print(json.dumps(card, indent=2), flush=True)
    if args.save_state:
        torch.save(model.state_dict(), args.save_state)
    if det["pixel_accuracy"] < args.min_pixel_accuracy or det["miou"] < args.min_miou:
        sys.exit(f"held-out pixel accuracy {det['pixel_accuracy']:.4f} / mIoU {det['miou']:.4f} below the "
                 f"{args.min_pixel_accuracy} / {args.min_miou} floor; not exporting")

    export(model, args.output)
    card["parameters"] = sum(p.numel() for p in model.parameters())
    card["file_bytes"] = os.path.getsize(args.output)
    card["seconds"] = round(time.time() - begun)
    with open(args.card, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    if args.fixtures:
        write_fixtures(test_raw, test_labels)
    print(f"done in {time.time() - begun:.0f}s", flush=True)


def export(model, path):
    import onnx
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dropout_live(model)
    kwargs = {}
    if int(torch.__version__.split(".")[0]) >= 2:
        kwargs["dynamo"] = False  # the TorchScript exporter: keeps Dropout as ONNX Dropout (training_mode true)
    torch.onnx.export(
        model, torch.zeros(1, 3, SIZE, SIZE), path,
        opset_version=13,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        **kwargs,
    )
    m = onnx.load(path)
    # The exporter leaves the output's shape symbolic (Resizelogits_dim_1..3: the final Resize's
    # sizes are computed from the input's shape); the input is 64x64, so declare [batch, 11, 64, 64].
    dims = m.graph.output[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    for dim, value in zip(dims[1:], (NUM_CLASSES, SIZE, SIZE)):
        dim.dim_value = value
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
        "mc_dropout.dropout_rates": json.dumps([DROPOUT, DROPOUT]),
        "mc_dropout.output": "logits",
    }
    for key, value in meta.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    m.doc_string = "Fashion-MNIST segmentation (background + 10 classes per pixel) with live dropout for Monte Carlo inference"
    onnx.checker.check_model(m)
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    print("exported", path, os.path.getsize(path), "bytes; ops:", ops, flush=True)


def slug(cls):
    return LABELS[cls].lower().replace("/", "-").replace(" ", "-")


def write_fixtures(test_raw, test_labels):
    """Canvases from the TEST images only, each set with its own fixed seed:
    fixtures/seg-samples/ (8, named by their items' classes in painting order) with their masks
    in fixtures/seg-samples-masks/; fixtures/seg-eval/images/ (200) with masks/ (class index per
    pixel) and masks-void/ (the same with void_border's 255 band); items.csv in each set lists
    every item (test-set index, class, position, side, tint)."""
    def write_set(seed, count, image_dir, mask_dir, void_dir, csv_path, name_of):
        xs, ys, items = compose_many(seed, count, test_raw, test_labels)
        for d in (image_dir, mask_dir, void_dir):
            if d:
                os.makedirs(d, exist_ok=True)
        rows = []
        for i in range(count):
            name = name_of(i, items[i])
            Image.fromarray(xs[i], "RGB").save(os.path.join(image_dir, name))
            Image.fromarray(ys[i], "L").save(os.path.join(mask_dir, name))
            if void_dir:
                Image.fromarray(void_border(ys[i]), "L").save(os.path.join(void_dir, name))
            for k, it in enumerate(items[i]):
                rows.append([name, k, it["test_index"], it["class"], LABELS[it["class"]], it["x"], it["y"], it["side"],
                             "#%02x%02x%02x" % tuple(it["tint"])])
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "item", "test_index", "class_index", "class", "x", "y", "side", "tint"])
            w.writerows(rows)

    fx = os.path.join(ROOT, "fixtures")
    write_set(SAMPLES_SEED, 8, os.path.join(fx, "seg-samples"), os.path.join(fx, "seg-samples-masks"), None,
              os.path.join(fx, "seg-samples-masks", "items.csv"),
              lambda i, its: f"{i + 1:02d}_" + "_".join(slug(it["class"]) for it in its) + ".png")
    ev = os.path.join(fx, "seg-eval")
    write_set(EVAL_SEED, 200, os.path.join(ev, "images"), os.path.join(ev, "masks"), os.path.join(ev, "masks-void"),
              os.path.join(ev, "items.csv"), lambda i, its: f"{i:04d}.png")


if __name__ == "__main__":
    main()
