"""A PyTorch mirror of msq's squad and vit, parameter for parameter under msq's dotted names, so an
msq checkpoint (safetensors) loads with strict=True and both frameworks can train the same model on
the same batches. Written from the math in ../shared/spec/modsquad.md and msq's layer contracts:

- patch_embed.proj: Linear(C*p*p -> D) on patches flattened as (c, i, j); pos_embed.weight [N, D];
  task_embed.<task> [D] added to every token before every block (the fused pass is task-major);
- blocks.i.attn: dense (qkv [3*H*d, D], proj) or MoA (experts.wq [E, D, F], experts.wo [E, F, D],
  kv Linear(D -> 2F) shared, router.<task>.weight [D, E]); blocks.i.mlp: dense (fc1, fc2, exact GELU)
  or MoE (experts.w1 [E, D, H], b1, w2, b2, router); pre-norm LayerNorm eps 1e-6;
- router: p = softmax(x W_t) + 1e-4 over all experts, top-k of p, gates = the raw chosen p;
- MI loss per MoE layer (spec section 2), summed over layers, weight w when the model has >1 task;
- heads.<task>: dense = per-patch Linear(D -> p*p*C) reassembled; global = mean -> LayerNorm -> Linear;
- AdamW with msq's decay rules; warm-up + half-cycle cosine per step as msq's train().
Float64 is available (dtype=) for a reference that is not limited by float32 rounding."""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Router(nn.Module):
    def __init__(self, dim, experts, tasks):
        super().__init__()
        self.w = nn.ParameterDict({t: nn.Parameter(torch.zeros(dim, experts)) for t in tasks})

    def forward(self, x, segments, k):
        logits = torch.cat([x[s:s + n] @ self.w[t] for t, s, n in segments], 0)
        probs = torch.softmax(logits, -1) + 1e-4
        top, idx = probs.topk(k, dim=-1)
        return probs, top, idx


def mutual_information(probs, segments):
    """The authors' estimate: A[t,e] = sum of p over task t's rows; P = A/(N+1e-4)."""
    A = torch.stack([probs[s:s + n].sum(0) for _, s, n in segments])
    N = sum(n for _, _, n in segments)
    P = A / (N + 1e-4)
    pt = P.sum(1, keepdim=True) + 1e-4
    pe = P.sum(0, keepdim=True) + 1e-4
    return -(P * torch.log(P / (pt * pe) + 1e-4)).sum()


def dense_gates(gates, idx, E):
    """[R, k] gates at [R, k] expert indices -> [R, E] with zeros elsewhere. Every expert then runs on every
    row and the zero gates drop the unchosen ones: msq's sparse dispatch, vectorised (E/k times the FLOPs,
    far fewer Python steps); the gradient still reaches only the chosen experts and probabilities."""
    return torch.zeros(gates.shape[0], E, dtype=gates.dtype).scatter_add(1, idx, gates)


class MoEMLP(nn.Module):
    def __init__(self, dim, hidden, E, k, tasks):
        super().__init__()
        self.E, self.k = E, k
        self.experts = nn.ParameterDict({"w1": nn.Parameter(torch.zeros(E, dim, hidden)), "b1": nn.Parameter(torch.zeros(E, hidden)),
                                         "w2": nn.Parameter(torch.zeros(E, hidden, dim)), "b2": nn.Parameter(torch.zeros(E, dim))})
        self.router = Router(dim, E, tasks)

    def forward(self, x, segments):  # x [R, D]
        probs, gates, idx = self.router(x, segments, self.k)
        w = self.experts
        dense = dense_gates(gates, idx, self.E)                                    # [R, E]
        h = F.gelu(torch.einsum("rd,edh->erh", x, w["w1"]) + w["b1"][:, None])     # every expert on every row
        y = torch.einsum("erh,ehd->erd", h, w["w2"]) + w["b2"][:, None]
        return torch.einsum("erd,re->rd", y, dense), probs


class MoAttention(nn.Module):
    def __init__(self, dim, E, k, heads_per_expert, head_dim, bias, tasks):
        super().__init__()
        self.E, self.k, self.h, self.dh = E, k, heads_per_expert, head_dim
        f = heads_per_expert * head_dim
        ex = {"wq": nn.Parameter(torch.zeros(E, dim, f)), "wo": nn.Parameter(torch.zeros(E, f, dim))}
        if bias:
            ex["bq"] = nn.Parameter(torch.zeros(E, f))
            ex["bo"] = nn.Parameter(torch.zeros(E, dim))
        self.experts = nn.ParameterDict(ex)
        self.kv = nn.Linear(dim, 2 * f)
        self.router = Router(dim, E, tasks)

    def forward(self, x, segments):  # x [G, N, D]
        G, N, D = x.shape
        h, dh, k, f = self.h, self.dh, self.k, self.h * self.dh
        xf = x.reshape(G * N, D)
        probs, gates, idx = self.router(xf, segments, k)
        kv = self.kv(x)
        keys = kv[..., :f].reshape(G, N, h, dh).transpose(1, 2)       # [G, h, N, dh]
        vals = kv[..., f:].reshape(G, N, h, dh).transpose(1, 2)
        w = self.experts
        dense = dense_gates(gates, idx, self.E)                                   # [R, E]
        q = torch.einsum("rd,edf->erf", xf, w["wq"])
        if "bq" in w:
            q = q + w["bq"][:, None]
        q = q.reshape(self.E, G, N, h, dh).transpose(2, 3)                        # [E, G, h, N, dh]
        att = torch.softmax(q @ keys.transpose(-1, -2)[None] / math.sqrt(dh), -1)
        o = (att @ vals[None]).transpose(2, 3).reshape(self.E, G * N, f)
        y = torch.einsum("erf,efd->erd", o, w["wo"])
        if "bo" in w:
            y = y + w["bo"][:, None]
        return torch.einsum("erd,re->rd", y, dense).reshape(G, N, D), probs


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.h, self.d = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x):
        B, N, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d), -1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, N, self.h * self.d))


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, spec, c, tasks):
        super().__init__()
        D = c["dim"]
        self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-6), nn.LayerNorm(D, eps=1e-6)
        att, mlp = spec["attention"], spec["mlp"]
        if "moa" in att:
            e, k = att["moa"]["experts"], att["moa"]["topK"]
            self.attn = MoAttention(D, e, k, c["moaHeadsPerExpert"], spec.get("attentionHeadDim") or c["moaHeadDim"], c["moaExpertBias"], tasks)
        else:
            self.attn = Attention(D, c["heads"], c["attentionHeadDim"])
        if "moe" in mlp:
            e, k = mlp["moe"]["experts"], mlp["moe"]["topK"]
            self.mlp = MoEMLP(D, spec.get("mlpHidden") or c["moeHidden"], e, k, tasks)
        else:
            self.mlp = MLP(D, D * c["mlpRatio"])

    def forward(self, x, segments, probs):
        G, N, D = x.shape
        if isinstance(self.attn, MoAttention):
            y, p = self.attn(self.norm1(x), segments)
            probs.append(p)
        else:
            y = self.attn(self.norm1(x))
        h = x + y
        if isinstance(self.mlp, MoEMLP):
            y, p = self.mlp(self.norm2(h).reshape(G * N, D), segments)
            probs.append(p)
            return h + y.reshape(G, N, D)
        return h + self.mlp(self.norm2(h))


class Head(nn.Module):
    def __init__(self, spec, D, p, g):
        super().__init__()
        self.kind, self.C, self.p, self.g = spec["kind"], spec["channels"], p, g
        if self.kind == "global":
            self.norm = nn.LayerNorm(D, eps=1e-6)
            self.proj = nn.Linear(D, self.C)
        else:
            self.proj = nn.Linear(D, p * p * self.C)

    def forward(self, tok):
        B = tok.shape[0]
        if self.kind == "global":
            return self.proj(self.norm(tok.mean(1)))
        g, p, C = self.g, self.p, self.C
        return self.proj(tok).reshape(B, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, g * p, g * p)


class Squad(nn.Module):
    """msq's SquadModel from its config (the JSON stored in a checkpoint's __metadata__)."""

    def __init__(self, c):
        super().__init__()
        if c.get("clsToken"):
            raise ValueError("cls token not mirrored")
        self.c = c
        self.tasks = [t["name"] for t in c["tasks"]]
        self.specs = {t["name"]: t for t in c["tasks"]}
        D, p, img, C = c["dim"], c["patch"], c["image"], c["channels"]
        self.g = img // p
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Linear(C * p * p, D)
        self.pos_embed = nn.Module()
        self.pos_embed.weight = nn.Parameter(torch.zeros(self.g * self.g, D))
        has_experts = any("moa" in b["attention"] or "moe" in b["mlp"] for b in c["blocks"])
        self.use_task_embed = c.get("taskEmbedding", True)
        self.shared = not has_experts and not self.use_task_embed
        if self.use_task_embed:
            self.task_embed = nn.ParameterDict({t: nn.Parameter(torch.zeros(D)) for t in self.tasks})
        self.blocks = nn.ModuleList([Block(b, c, self.tasks) for b in c["blocks"]])
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.heads = nn.ModuleDict({t: Head(self.specs[t], D, p, self.g) for t in self.tasks})

    def msq_state_dict(self):
        """torch names -> msq names (router.w.<task> -> router.<task>.weight)."""
        out = {}
        for n, t in self.state_dict().items():
            m = n.replace("router.w.", "router.")
            if ".router." in n:
                m += ".weight"
            out[m] = t
        return out

    def load_msq(self, tensors):
        sd = {}
        for n in self.state_dict():
            m = n.replace("router.w.", "router.") + (".weight" if ".router." in n else "")
            if m not in tensors:
                raise KeyError(f"msq checkpoint lacks {m}")
            sd[n] = torch.as_tensor(np.asarray(tensors[m]))
        self.load_state_dict(sd, strict=True)

    def forward(self, images, tasks=None):
        ts = tasks or self.tasks
        B, C, H, W = images.shape
        p, g = self.c["patch"], self.g
        cols = images.reshape(B, C, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, C * p * p)
        x0 = self.patch_embed.proj(cols) + self.pos_embed.weight
        N, D = x0.shape[1], x0.shape[2]
        passes = 1 if self.shared else len(ts)
        x = x0.repeat(passes, 1, 1)
        segments = [(t, i * B * N, B * N) for i, t in enumerate(ts)] if not self.shared else [(ts[0], 0, B * N)]
        emb = None
        if self.use_task_embed and not self.shared:
            emb = torch.cat([self.task_embed[t].expand(B * N, D) for t in ts]).reshape(passes * B, N, D)
        probs = []
        for blk in self.blocks:
            if emb is not None:
                x = x + emb
            x = blk(x, segments, probs)
        x = self.norm(x)
        feats = x.split(B, 0) if passes > 1 else [x] * len(ts)
        return {t: self.heads[t](feats[i]) for i, t in enumerate(ts)}, probs, segments


def task_loss(spec, pred, target):
    loss = spec["loss"]
    if loss == "ce":
        y = target.long()
        if spec["kind"] == "global":
            return F.cross_entropy(pred, y)
        B, C = pred.shape[:2]
        return F.cross_entropy(pred.reshape(B, C, -1).transpose(1, 2).reshape(-1, C), y.reshape(-1), ignore_index=-1)
    if loss == "l1":
        return (pred - target).abs().mean()
    if loss == "mse":
        return ((pred - target) ** 2).mean()
    if loss == "cosine":
        if spec["kind"] == "dense":
            B, C = pred.shape[:2]
            pred = pred.reshape(B, C, -1).transpose(1, 2)
            target = target.reshape(B, C, -1).transpose(1, 2)
        na = pred.norm(dim=-1).clamp_min(1e-8)
        nb = target.norm(dim=-1).clamp_min(1e-8)
        return (1 - (pred * target).sum(-1) / (na * nb)).mean()
    raise ValueError(loss)


def objective(model, images, targets, mi_weight=0.005):
    preds, probs, segments = model(images)
    losses = {t: task_loss(model.specs[t], preds[t], targets[t]) for t in model.tasks}
    total = sum(losses.values())
    mi = None
    if probs and len(model.tasks) > 1 and mi_weight != 0:
        mi = sum(mutual_information(p, segments) for p in probs)
        total = total + mi_weight * mi
    return total, losses, mi


def decays(name, t):
    """msq's AdamW groups: parameters of 2+ dims, except positions, expert biases and the cls token;
    task embeddings (1-D) decay, as the authors'."""
    if name.startswith("task_embed."):
        return True
    if name.startswith("pos_embed") or name == "cls_token":
        return False
    if ".experts." in name:
        return name.split(".")[-1] in ("w1", "w2", "wq", "wo")
    return t.ndim >= 2


def make_optimizer(model, lr, weight_decay=0.05, eps=1e-8):
    named = list(model.named_parameters())
    msq_names = {n: (n.replace("router.w.", "router.") + (".weight" if ".router." in n else "")) for n, _ in named}
    dec = [p for n, p in named if decays(msq_names[n], p)]
    nodec = [p for n, p in named if not decays(msq_names[n], p)]
    return torch.optim.AdamW([{"params": dec, "weight_decay": weight_decay}, {"params": nodec, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999), eps=eps)


def lr_at(step, base, warmup, total, min_lr=1e-6):
    """msq's WarmupCosineLR at a 0-based step."""
    min_lr = min(min_lr, base)
    if step < warmup:
        return base * (step + 1) / warmup
    t = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def load_checkpoint(path):
    """(config dict, {name: np.ndarray}) of an msq safetensors checkpoint."""
    from safetensors.numpy import load_file
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    config = json.loads(header["__metadata__"]["modsquad.config"])
    return config, load_file(path)


def load_batches(folder, split="train"):
    """save_batches' files: images, targets per task, order [steps, B], meta."""
    meta = json.load(open(f"{folder}/meta.json"))
    images = np.load(f"{folder}/{split}_images.npy")
    targets = {t["name"]: np.load(f"{folder}/{split}_{t['name']}.npy") for t in meta["tasks"]}
    order = np.load(f"{folder}/order.npy").astype(np.int64) if split == "train" else None
    return meta, images, targets, order


def init_torch_default(model):
    """What a PyTorch user's model starts from: nn.Linear / LayerNorm defaults (reset_parameters),
    trunc-normal(0.02) position and task embeddings (timm's ViT), experts U(-1/in, 1/in) with fan-in
    biases and trunc-normal(0.02) routers (the authors' ParallelExperts and timm's Linear init)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.LayerNorm)):
                mod.reset_parameters()
        nn.init.trunc_normal_(model.pos_embed.weight, std=0.02)
        if model.use_task_embed:
            for p in model.task_embed.values():
                nn.init.trunc_normal_(p, std=0.02)
        for name, p in model.named_parameters():
            if ".experts." in name:
                kind = name.split(".")[-1]
                if kind in ("w1", "w2", "wq", "wo"):
                    p.uniform_(-1 / p.shape[1], 1 / p.shape[1])
                elif kind in ("b1", "b2"):
                    w = dict(model.named_parameters())[name[:-2] + ("w1" if kind == "b1" else "w2")]
                    fan = w.shape[1]
                    p.uniform_(-1 / fan ** 0.5, 1 / fan ** 0.5)
                else:
                    p.zero_()
            elif ".router." in name:
                nn.init.trunc_normal_(p, std=0.02)


def apply_losses(model, meta):
    """Take each task's loss from save_batches' meta.json (a plugin task's spec says only its head)."""
    for t in meta["tasks"]:
        if t["loss"].startswith("plugin:"):
            raise ValueError(f"task {t['name']}: its plugin has its own loss, which this mirror does not know")
        model.specs[t["name"]] = {**model.specs[t["name"]], "loss": t["loss"]}
