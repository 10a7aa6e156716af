#!/usr/bin/env python3
"""Fixtures for the Mod-Squad model tests, computed in float64 numpy from the
authors' formulas (spec section 2), independent of the Swift code.

MI loss: P = A/(N+1e-4); Pt = sum_e P + 1e-4; Pe = sum_t P + 1e-4;
L = -sum P log(P/(Pt Pe) + 1e-4). Gradient by central differences in float64."""
import os
import numpy as np

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
os.makedirs(here, exist_ok=True)
rng = np.random.default_rng(2023)


def mi(A, N):
    P = A / (N + 1e-4)
    pt = P.sum(1, keepdims=True) + 1e-4
    pe = P.sum(0, keepdims=True) + 1e-4
    return -(P * np.log(P / (pt * pe) + 1e-4)).sum()


T, E = 4, 6
A = rng.uniform(0.1, 30.0, size=(T, E)).astype(np.float32).astype(np.float64)
N = int(round(A.sum()))
L = mi(A, N)
G = np.zeros_like(A)
h = 1e-6
for i in range(T):
    for j in range(E):
        Ap, Am = A.copy(), A.copy()
        Ap[i, j] += h
        Am[i, j] -= h
        G[i, j] = (mi(Ap, N) - mi(Am, N)) / (2 * h)
np.save(os.path.join(here, "mi_A.npy"), A.astype(np.float32))
np.save(os.path.join(here, "mi_N.npy"), np.array([N], dtype=np.float32))
np.save(os.path.join(here, "mi_loss.npy"), np.array([L], dtype=np.float32))
np.save(os.path.join(here, "mi_grad.npy"), G.astype(np.float32))
print("MI", L)
