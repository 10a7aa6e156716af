#!/usr/bin/env python3
"""Fixtures from the PyTorch reference (../shared/reference/modsquad_torch.py): its
mutual-information loss and gradient on fixed inputs. Run with a Python that has torch:
    .venv-torch/bin/python Tests/Fixtures/make_reference_fixtures.py [path/to/reference/dir]"""
import os
import sys
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
ref_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "reference")
sys.path.insert(0, os.path.abspath(ref_dir))
import modsquad_torch as ref  # noqa: E402

out = os.path.join(here, "model")
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(7)
T, E = 4, 8
p = torch.softmax(torch.randn(T, E, generator=g) * 2, dim=-1).double().requires_grad_(True)
loss = ref.mi_loss(p)
loss.backward()
np.save(os.path.join(out, "ref_mi_p.npy"), p.detach().numpy().astype(np.float32))
np.save(os.path.join(out, "ref_mi_loss.npy"), np.array([loss.item()], dtype=np.float32))
np.save(os.path.join(out, "ref_mi_grad.npy"), p.grad.numpy().astype(np.float32))
print("reference MI", loss.item())
