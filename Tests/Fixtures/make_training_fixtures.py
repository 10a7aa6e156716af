#!/usr/bin/env python3
"""The many-step learning-parity fixtures: msq writes a small model's initial weights and the exact
batches it trains on (make_training_inputs.msq: save and save_batches), PyTorch (bench/msq_torch.py,
float64) trains the same model on them with the same AdamW and warm-up + cosine schedule, and the
per-step losses and final weights are saved. TrainingParityTests trains msq on the same inputs and
compares. Run from the repository root with a Python that has torch:
    .venv-torch/bin/python Tests/Fixtures/make_training_fixtures.py [--msq .build/release/msq]
(--msq regenerates the msq-written inputs first)."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "bench"))
import msq_torch as mt  # noqa: E402

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training")

# Each case: the schedule its Swift test uses too (recorded in schedule.json).
CASES = {
    "vit": {"lr": 2e-3, "warmup": 10, "mi": 0.0},
    "squad": {"lr": 1e-3, "warmup": 10, "mi": 0.005},
}


def run_case(name, sched):
    folder = os.path.join(here, name)
    config, init = mt.load_checkpoint(os.path.join(folder, "init.safetensors"))
    meta, images, targets, order = mt.load_batches(folder)
    torch.manual_seed(0)
    model = mt.Squad(config).double()
    model.load_msq(init)
    mt.apply_losses(model, meta)
    steps = order.shape[0]
    opt = mt.make_optimizer(model, sched["lr"])
    X = torch.as_tensor(images, dtype=torch.float64)
    Y = {t: torch.as_tensor(v, dtype=torch.float64) for t, v in targets.items()}
    losses = []
    for s in range(steps):
        idx = torch.as_tensor(order[s])
        lr = mt.lr_at(s, sched["lr"], sched["warmup"], steps)
        for g in opt.param_groups:
            g["lr"] = lr
        batch_targets = {}
        for t in model.tasks:
            y = Y[t]
            if model.specs[t]["loss"] == "ce" and model.specs[t]["kind"] == "dense":
                hw = y.shape[0] // X.shape[0]
                y = y.reshape(X.shape[0], hw)
            batch_targets[t] = y[idx]
        total, per_task, mi = mt.objective(model, X[idx], batch_targets, mi_weight=sched["mi"])
        opt.zero_grad()
        total.backward()
        opt.step()
        row = [total.item()] + [per_task[t].item() for t in model.tasks] + ([mi.item()] if mi is not None else [])
        losses.append(row)
    final = {n: t.detach().float().numpy().copy() for n, t in model.msq_state_dict().items()}
    np.save(os.path.join(folder, "torch_losses.npy"), np.array(losses, dtype=np.float64).astype(np.float32))
    save_file(final, os.path.join(folder, "torch_final.safetensors"))
    with open(os.path.join(folder, "schedule.json"), "w") as f:
        json.dump({**sched, "steps": steps, "columns": ["total"] + model.tasks + (["mi"] if sched["mi"] and len(model.tasks) > 1 else [])}, f, indent=1)
    print(f"{name}: {steps} steps, loss {losses[0][0]:.4f} -> {losses[-1][0]:.4f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--msq", help="regenerate the msq-written inputs with this msq binary first")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.msq:
        subprocess.run([os.path.abspath(a.msq), "run", os.path.join(here, "make_training_inputs.msq")], check=True, cwd=here)
    for n, s in CASES.items():
        run_case(n, s)
