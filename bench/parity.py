#!/usr/bin/env python3
"""Accuracy parity, side by side: the same model, recipe and step budget in msq and PyTorch on real data.

For every case msq builds the model with its defaults, writes the initial weights and the exact batches
its train() draws (save / save_batches), trains and evaluates. PyTorch (bench/msq_torch.py, float32,
the same threads) then trains the same architecture twice:
  - "torch":    PyTorch's own initialisation (nn.Linear defaults, trunc-normal 0.02 positions and task
                embeddings), its own shuffled order, the same recipe (AdamW 1e-3, wd 0.05, 2% warm-up +
                cosine, batch 32, no augmentation): what a PyTorch user gets;
  - "torch/msq-init": msq's initial weights and batches: numerics parity at full length.
(--numerics; the 200-step harness in the tests covers this at small size.)
It prints one Markdown table of test (and train) metrics; msq's number should be within 1 point of torch's.

    bash bench/parity.sh [--steps 1000] [--cases fashion,folder,...]   (or .venv-torch/bin/python bench/parity.py --msq MSQ ...)
Cases: fashion (Fashion-MNIST class), folder (the same images as PNGs with a manifest, loaded by folder()),
multifashion (left/right classes + which-item segmentation), scenes (count, shape, segment, depth)."""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msq_torch as mt  # noqa: E402

CASES = {
    "fashion": ('fashion(train: 1600, test: 400, size: 32, tasks: ["class"])', ["vit", "squad"]),
    "folder": ('folder("{folder}", test: 0.2)', ["vit", "squad"]),
    "multifashion": ('multifashion(train: 2000, test: 400, tasks: ["left", "right", "which"])', ["vit", "squad"]),
    "scenes": ('scenes(size: 32, train: 2000, test: 400, tasks: ["count", "shape", "segment", "depth"])', ["vit", "squad"]),
}
MODELS = {
    "vit": "vit(tasks: data, dim: 64, depth: 4, patch: 4, seed: {seed})",
    "squad": "squad(tasks: data, dim: 64, depth: 4, patch: 4, experts: 4, top_k: 2, seed: {seed})",
}


def write_png(path, grey):
    """An 8-bit greyscale PNG (no dependencies)."""
    h, w = grey.shape
    raw = b"".join(b"\x00" + grey[r].tobytes() for r in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def make_folder(out, n=2000):
    """The first n Fashion-MNIST training images, zero-padded to 32x32, as PNGs with a manifest."""
    import gzip
    src = "/usr/share/datasets/fashion-mnist"   # Debian dataset-fashion-mnist
    with gzip.open(f"{src}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(f"{src}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    os.makedirs(f"{out}/images", exist_ok=True)
    rows = ["image,class:class"]
    for i in range(n):
        write_png(f"{out}/images/{i:05d}.png", np.pad(x[i], 2))
        rows.append(f"images/{i:05d}.png,{int(y[i])}")
    open(f"{out}/manifest.csv", "w").write("\n".join(rows) + "\n")


def metric_names(spec):
    if spec["loss"] == "ce":
        return "top1" if spec["kind"] == "global" else "pixacc"
    return "mae" if spec["kind"] == "global" else "rmse"


def torch_metrics(model, images, targets, batch=100):
    model.eval()
    sums = {t: 0.0 for t in model.tasks}
    n = images.shape[0]
    with torch.no_grad():
        for i in range(0, n, batch):
            x = torch.as_tensor(images[i:i + batch])
            preds, _, _ = model(x)
            for t in model.tasks:
                s, y, p = model.specs[t], targets[t], preds[t]
                if s["loss"] == "ce" and s["kind"] == "global":
                    sums[t] += (p.argmax(1).numpy() == y[i:i + batch]).sum()
                elif s["loss"] == "ce":
                    yy = y.reshape(n, -1)[i:i + batch]
                    pp = p.argmax(1).reshape(yy.shape[0], -1).numpy()
                    ok = yy >= 0
                    sums[t] += ((pp == yy) & ok).sum() / max(ok.sum(), 1) * yy.shape[0]
                elif s["kind"] == "global":
                    sums[t] += np.abs(p.numpy() - y[i:i + batch]).reshape(p.shape[0], -1).mean(1).sum()
                else:   # per-image RMSE, averaged (msq averages per batch: close, not identical)
                    sums[t] += np.sqrt(((p.numpy() - y[i:i + batch]) ** 2).reshape(p.shape[0], -1).mean(1)).sum()
    model.train()
    return {t: sums[t] / n for t in model.tasks}


def train_torch(config, init, meta, X, Y, order, steps, lr, seed, own_init):
    torch.manual_seed(seed)
    model = mt.Squad(config)
    if own_init:
        mt.init_torch_default(model)
    else:
        model.load_msq(init)
    mt.apply_losses(model, meta)
    opt = mt.make_optimizer(model, lr)
    warm = max(1, round(steps * 0.02)) if own_init else meta["warmup"]
    rng = np.random.default_rng(seed)
    n, b = X.shape[0], meta["batch"]
    perm, pos = rng.permutation(n), 0
    Xt = torch.as_tensor(X)
    Yt = {t: torch.as_tensor(v) for t, v in Y.items()}
    for s in range(steps):
        if own_init:
            if pos + b > n:
                perm, pos = rng.permutation(n), 0
            idx = torch.as_tensor(perm[pos:pos + b])
            pos += b
        else:
            idx = torch.as_tensor(order[s])
        for g in opt.param_groups:
            g["lr"] = mt.lr_at(s, lr, warm, steps)
        tg = {}
        for t in model.tasks:
            y = Yt[t]
            if model.specs[t]["kind"] == "dense" and model.specs[t]["loss"] == "ce":
                y = y.reshape(n, -1)
            tg[t] = y[idx]
        total, _, _ = mt.objective(model, Xt[idx], tg)
        opt.zero_grad()
        total.backward()
        opt.step()
    return model


def parse_eval(text, split, what="eval"):
    m = re.search(rf"{what} {split} \(\d+ images[^)]*\): (.*)", text)
    out = {}
    if m:
        for part in m.group(1).split(" | "):
            words = part.split()
            out[words[0]] = {words[i]: float(words[i + 1]) for i in range(1, len(words) - 1, 2)}
    return out


def run_case(msq, case, model_kind, steps, seed, work, numerics=True):
    data_expr, _ = CASES[case]
    d = f"{work}/{case}-{model_kind}"
    os.makedirs(d, exist_ok=True)
    data_expr = data_expr.format(folder=f"{work}/folder-data")
    nb = f"""data = {data_expr}
m = {MODELS[model_kind].format(seed=seed)}
save(m, "{d}/init.safetensors")
save_batches(m, data, "{d}", steps: {steps}, batch: 32, test: true)
train(m, data, steps: {steps}, batch: 32, lr: 1e-3, augment: false)
eval(m, data)
eval(m, data, split: "train")
trivial(m, data)
"""
    open(f"{d}/run.msq", "w").write(nb)
    t0 = time.time()
    r = subprocess.run([msq, "run", f"{d}/run.msq"], capture_output=True, text=True)
    msq_s = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"msq failed on {case}/{model_kind}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    warm = re.search(r"warm-up (\d+)", r.stdout)
    msq_test, msq_train = parse_eval(r.stdout, "test"), parse_eval(r.stdout, "train")
    msq_test["__trivial"] = parse_eval(r.stdout, "test", "trivial")
    config, init = mt.load_checkpoint(f"{d}/init.safetensors")
    meta, X, Y, order = mt.load_batches(d)
    meta["warmup"] = int(warm.group(1)) if warm else 0
    _, Xte, Yte, _ = mt.load_batches(d, "test")
    rows = []
    for label, own in (("torch", True), ("torch/msq-init", False)) if numerics else (("torch", True),):
        t0 = time.time()
        model = train_torch(config, init, meta, X, Y, order, steps, 1e-3, seed, own)
        rows.append((label, torch_metrics(model, Xte, Yte), torch_metrics(model, X, Y), time.time() - t0))
    return config, msq_test, msq_train, msq_s, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--msq", default=".build/release/msq")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--models", default="vit,squad")
    ap.add_argument("--work", default="out/parity")
    ap.add_argument("--numerics", action="store_true", help="also train PyTorch from msq's initial weights and batches (the long harness)")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("MSQ_THREADS", "2")))
    os.makedirs(a.work, exist_ok=True)
    if "folder" in a.cases and not os.path.exists(f"{a.work}/folder-data/manifest.csv"):
        make_folder(f"{a.work}/folder-data")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# accuracy parity: {a.steps} steps, batch 32, lr 1e-3, seed {a.seed}; CPU {cpu}; torch {torch.__version__}\n")
    extra = " torch/msq-init test |" if a.numerics else ""
    print("| case | model | task | metric | constant | msq test | torch test |" + extra + " msq train | torch train | msq s | torch s |")
    print("|---|---|---|---|---|---|---|" + ("---|" if a.numerics else "") + "---|---|---|---|")
    for case in a.cases.split(","):
        for mk in a.models.split(","):
            config, mte, mtr, ms, rows = run_case(a.msq, case, mk, a.steps, a.seed, a.work, a.numerics)
            (_, tte, ttr, ts) = rows[0]
            ite = rows[1][1] if len(rows) > 1 else {t: float("nan") for t in tte}
            losses = {t["name"]: t["loss"] for t in json.load(open(f"{a.work}/{case}-{mk}/meta.json"))["tasks"]}
            for spec in config["tasks"]:
                t = spec["name"]
                spec = {**spec, "loss": losses[t]}
                name = metric_names(spec)
                msq_name = {"pixacc": "pixel_acc"}.get(name, name)
                mv = mte.get(t, {}).get(msq_name, mte.get(t, {}).get(name, float("nan")))
                mtv = mtr.get(t, {}).get(msq_name, mtr.get(t, {}).get(name, float("nan")))
                tv = mte["__trivial"].get(t, {}).get(msq_name, float("nan"))
                numerics_cell = f" {ite[t]:.3f} |" if a.numerics else ""
                print(f"| {case} | {mk} | {t} | {name} | {tv:.3f} | {mv:.3f} | {tte[t]:.3f} |{numerics_cell} {mtv:.3f} | {ttr[t]:.3f} | {ms:.0f} | {ts:.0f} |", flush=True)


if __name__ == "__main__":
    main()
