#!/usr/bin/env python3
# Regenerates Tests/Fixtures/ops/*.npy: inputs, forward values and (for some ops)
# the input gradients of L = sum(out * w), computed with numpy in float64 from the
# float32-rounded inputs and saved as float32. Read by
# Tests/ModSquadKitTests/OpsFixtureTests.swift. Needs numpy and scipy (exact GELU
# through scipy.special.erf). Deterministic: rerunning writes identical files.
import os

import numpy as np
from scipy.special import erf

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")
rng = np.random.default_rng(20240611)


def f32(a):
    """Rounds to float32 and back to float64, so references use exactly the stored inputs."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def normal(*shape, scale=1.0):
    return f32(rng.standard_normal(shape) * scale)


def save(name, a, dtype=np.float32):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(np.asarray(a, dtype=dtype)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def gelu():
    # A grid over [-6, 6] plus the origin neighbourhood.
    x = f32(np.concatenate([np.linspace(-6, 6, 49), [-1e-3, 1e-3, 0.5, -0.5]]))
    cdf = 0.5 * (1 + erf(x / np.sqrt(2)))
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    w = normal(*x.shape)
    save("gelu_x", x); save("gelu_y", x * cdf); save("gelu_w", w); save("gelu_dx", w * (cdf + x * pdf))


def softmax_family():
    x = normal(4, 7, scale=3.0)
    x[1] += 40.0   # a shifted row (stability)
    w = normal(4, 7)
    y = softmax(x)
    save("softmax_x", x); save("softmax_w", w)
    save("softmax_y", y)
    save("softmax_dx", y * (w - (w * y).sum(axis=-1, keepdims=True)))
    save("logsoftmax_y", log_softmax(x))
    save("logsoftmax_dx", w - y * w.sum(axis=-1, keepdims=True))


def layer_norm():
    eps = 1e-6
    x = normal(3, 8, scale=2.0) + 0.5
    g, b = normal(8), normal(8)
    w = normal(3, 8)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    xh = (x - mu) * rstd
    y = xh * g + b
    dxh = w * g
    dx = rstd * (dxh - dxh.mean(axis=-1, keepdims=True) - xh * (dxh * xh).mean(axis=-1, keepdims=True))
    save("layernorm_x", x); save("layernorm_gamma", g); save("layernorm_beta", b); save("layernorm_w", w)
    save("layernorm_y", y); save("layernorm_dx", dx)
    save("layernorm_dgamma", (w * xh).sum(axis=0)); save("layernorm_dbeta", w.sum(axis=0))


def attention():
    # G = 2 groups, Nq = 3 queries, Nk = 5 keys, d = 4, dv = 3; default scale 1/sqrt(d).
    q, k, v = normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 3)
    w = normal(2, 3, 3)
    s = 1 / np.sqrt(4)
    p = softmax(np.einsum("gqd,gkd->gqk", q, k) * s)
    o = np.einsum("gqk,gkv->gqv", p, v)
    dp = np.einsum("gqv,gkv->gqk", w, v)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * s
    save("attention_q", q); save("attention_k", k); save("attention_v", v); save("attention_w", w)
    save("attention_out", o)
    save("attention_dq", np.einsum("gqk,gkd->gqd", ds, k))
    save("attention_dk", np.einsum("gqk,gqd->gkd", ds, q))
    save("attention_dv", np.einsum("gqk,gqv->gkv", p, w))


def cross_entropy():
    # Row 2 is ignored (target -100): the loss is the mean over the other 4 rows.
    x = normal(5, 6, scale=2.0)
    t = np.array([3, 0, -100, 5, 1], dtype=np.int64)
    keep = t != -100
    lp = log_softmax(x)
    loss = -lp[keep, t[keep]].mean()
    dx = softmax(x)
    dx[keep, t[keep]] -= 1
    dx[~keep] = 0
    dx /= keep.sum()
    save("crossentropy_logits", x); save("crossentropy_targets", t, dtype=np.int64)
    save("crossentropy_loss", [loss]); save("crossentropy_dlogits", dx)


def cosine_loss():
    a, b = normal(4, 5), normal(4, 5)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    cos = (a * b).sum(axis=-1, keepdims=True) / (na * nb)
    rows = a.shape[0]
    save("cosine_a", a); save("cosine_b", b)
    save("cosine_loss", [(1 - cos).mean()])
    save("cosine_da", -(b / (na * nb) - cos * a / na**2) / rows)
    save("cosine_db", -(a / (na * nb) - cos * b / nb**2) / rows)


def matmul_linear():
    a, b, w = normal(3, 4), normal(4, 5), normal(3, 5)
    save("matmul_a", a); save("matmul_b", b); save("matmul_w", w)
    save("matmul_c", a @ b); save("matmul_da", w @ b.T); save("matmul_db", a.T @ w)

    x, W, bias, w = normal(2, 3, 4), normal(5, 4), normal(5), normal(2, 3, 5)
    x2, w2 = x.reshape(6, 4), w.reshape(6, 5)
    save("linear_x", x); save("linear_weight", W); save("linear_bias", bias); save("linear_w", w)
    save("linear_y", x @ W.T + bias)
    save("linear_dx", (w2 @ W).reshape(2, 3, 4)); save("linear_dweight", w2.T @ x2); save("linear_dbias", w2.sum(axis=0))


def topk():
    # Distinct values per row (a shuffled grid plus small noise) so the order is unambiguous.
    rows, n, k = 4, 8, 3
    x = np.stack([rng.permutation(n) * 0.25 - 1.0 + rng.uniform(0, 0.1, n) for _ in range(rows)])
    x = f32(x)
    idx = np.argsort(-x, axis=-1, kind="stable")[:, :k]
    save("topk_x", x); save("topk_values", np.take_along_axis(x, idx, axis=-1)); save("topk_indices", idx, dtype=np.int64)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gelu(); softmax_family(); layer_norm(); attention(); cross_entropy(); cosine_loss(); matmul_linear(); topk()
    print("wrote", len([f for f in os.listdir(OUT) if f.endswith(".npy")]), "files to", OUT)
