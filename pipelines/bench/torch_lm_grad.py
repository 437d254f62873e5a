#!/usr/bin/python3
"""PyTorch CPU reference for the hook gradient of GPT-2, the same work as GPT2.gradAtHook.

Mirrors lib/gpt2/model.ts (row (b) of `deno task bench`; lib/store/build.ts builds stores with it):
a plain-torch GPT-2 (pre-LN blocks, causal attention, gelu_new = tanh approximation, ln_f, tied
unembedding; float32, parameters with requires_grad=False). Per iteration, on a [batch, ctx]
batch of token ids:

  1. forward to the hook, blocks.{hook_layer}.hook_resid_post, without autograd;
  2. forward from the hook with that activation requiring grad through the later blocks, ln_f and
     the unembedding of positions 0..ctx-2 (the last has no target), per-token next-token
     cross-entropy, summed (each sequence's sum: sequences are independent);
  3. backward to the hook activation only.

Timed with time.perf_counter per iteration; tokens/s = batch * ctx / median step time.
`--weights model.safetensors` loads an HF-layout GPT-2 (F16/F32, optional `transformer.` prefix;
sizes from the tensors, heads and LN eps from config.json beside it or the flags).
`--check` verifies the hook gradient instead of timing: a central finite difference on one
coordinate of a tiny random float64 model, and, when the repository's fixture
tests/fixtures/gpt2_ref exists, the gradients stored there. Prints one JSON line.
Run with Debian's torch: /usr/bin/python3 pipelines/bench/torch_lm_grad.py
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO_ROOT, "tests", "fixtures", "gpt2_ref")

_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32,
           "I64": np.int64}


def read_safetensors(path):
    """{name: numpy array} from a safetensors file (8-byte LE header length, JSON header, data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in _DTYPES:
                raise SystemExit(f"{path}: {name} has unsupported dtype {info['dtype']}")
            start, end = info["data_offsets"]
            f.seek(base + start)
            buf = f.read(end - start)
            arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
            out[name] = arr.reshape(info["shape"])
    return out


def load_weights(path, heads, eps, dtype):
    """(params, config) from an HF-layout GPT-2 safetensors file."""
    raw = read_safetensors(path)
    params = {}
    for name, arr in raw.items():
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        if key == "lm_head.weight" or key.endswith(".attn.bias") or key.endswith(".attn.masked_bias"):
            continue  # tied head; HF's causal-mask buffers
        params[key] = torch.from_numpy(arr.astype(np.float64)).to(dtype)
    cfg_path = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    file_cfg = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
    layers = 1 + max(int(k.split(".")[1]) for k in params if k.startswith("h."))
    vocab, d = params["wte.weight"].shape
    cfg = {
        "layers": layers,
        "d": d,
        "heads": file_cfg.get("n_head", heads),
        "vocab": vocab,
        "positions": params["wpe.weight"].shape[0],
        "eps": file_cfg.get("layer_norm_epsilon", eps),
    }
    return params, cfg


def random_params(layers, d, vocab, positions, dtype, seed=0, std=0.02):
    """GPT-2's init: N(0, 0.02), residual projections scaled by 1/sqrt(2L), LN gains 1."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"wte.weight": (vocab, d), "wpe.weight": (positions, d)}
    for i in range(layers):
        h = f"h.{i}."
        shapes.update({
            h + "ln_1.weight": (d,), h + "ln_1.bias": (d,),
            h + "attn.c_attn.weight": (d, 3 * d), h + "attn.c_attn.bias": (3 * d,),
            h + "attn.c_proj.weight": (d, d), h + "attn.c_proj.bias": (d,),
            h + "ln_2.weight": (d,), h + "ln_2.bias": (d,),
            h + "mlp.c_fc.weight": (d, 4 * d), h + "mlp.c_fc.bias": (4 * d,),
            h + "mlp.c_proj.weight": (4 * d, d), h + "mlp.c_proj.bias": (d,),
        })
    shapes.update({"ln_f.weight": (d,), "ln_f.bias": (d,)})
    params = {}
    for name, shape in shapes.items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            params[name] = torch.ones(shape, dtype=dtype)
        elif len(shape) == 1:
            params[name] = torch.zeros(shape, dtype=dtype)
        else:
            s = std / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else std
            params[name] = (torch.randn(shape, generator=g, dtype=torch.float64) * s).to(dtype)
    return params


class GPT2:
    """Plain-torch GPT-2 over a dict of HF-named parameters (Conv1D weights [in, out])."""

    def __init__(self, params, heads, eps):
        self.p = params
        for t in params.values():
            t.requires_grad_(False)
        self.heads, self.eps = heads, eps
        self.layers = 1 + max(int(k.split(".")[1]) for k in params if k.startswith("h."))
        self._masks = {}

    def ln(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.p[name + ".weight"], self.p[name + ".bias"],
                            self.eps)

    def linear(self, x, name):
        return torch.addmm(self.p[name + ".bias"], x.reshape(-1, x.shape[-1]),
                           self.p[name + ".weight"]).reshape(*x.shape[:-1], -1)

    def mask(self, t, dtype):
        key = (t, dtype)
        if key not in self._masks:
            self._masks[key] = torch.full((t, t), float("-inf"), dtype=dtype).triu_(1)
        return self._masks[key]

    def attention(self, i, x):
        b, t, d = x.shape
        nh, hd = self.heads, d // self.heads
        q, k, v = self.linear(x, f"h.{i}.attn.c_attn").split(d, dim=2)
        heads = lambda z: z.reshape(b, t, nh, hd).transpose(1, 2)  # noqa: E731
        scores = heads(q) @ heads(k).transpose(-1, -2) * (1 / math.sqrt(hd)) + self.mask(t, x.dtype)
        mixed = (torch.softmax(scores, dim=-1) @ heads(v)).transpose(1, 2).reshape(b, t, d)
        return self.linear(mixed, f"h.{i}.attn.c_proj")

    @staticmethod
    def gelu_new(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))

    def block(self, i, x):
        x = x + self.attention(i, self.ln(x, f"h.{i}.ln_1"))
        hidden = self.gelu_new(self.linear(self.ln(x, f"h.{i}.ln_2"), f"h.{i}.mlp.c_fc"))
        return x + self.linear(hidden, f"h.{i}.mlp.c_proj")

    def run_to_hook(self, ids, hook_layer):
        """blocks.{hook_layer}.hook_resid_post, [batch, ctx, d]."""
        t = ids.shape[1]
        h = self.p["wte.weight"][ids] + self.p["wpe.weight"][:t]
        for i in range(hook_layer + 1):
            h = self.block(i, h)
        return h

    def token_losses_from_hook(self, act, ids, hook_layer):
        """Next-token CE per position [batch, ctx - 1], running on from the hook activation."""
        h = act
        for i in range(hook_layer + 1, self.layers):
            h = self.block(i, h)
        b, t, d = h.shape
        x = self.ln(h[:, :-1], "ln_f").reshape(b * (t - 1), d)
        logits = x @ self.p["wte.weight"].t()
        return F.cross_entropy(logits, ids[:, 1:].reshape(-1), reduction="none").reshape(b, t - 1)

    def grad_at_hook(self, ids, hook_layer):
        """(activation, d(sum of losses)/d(activation), losses), backward only after the hook."""
        with torch.no_grad():
            act = self.run_to_hook(ids, hook_layer)
        act.requires_grad_(True)
        losses = self.token_losses_from_hook(act, ids, hook_layer)
        (grad,) = torch.autograd.grad(losses.sum(), act)
        return act.detach(), grad, losses.detach()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--batch", type=int, default=32, help="sequences per iteration")
    p.add_argument("--hook-layer", type=int, default=2, help="hook blocks.N.hook_resid_post")
    p.add_argument("--steps", type=int, default=5, help="timed iterations (after warmup)")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    p.add_argument("--weights", help="HF-layout GPT-2 model.safetensors (else random init)")
    p.add_argument("--eps", type=float, default=1e-5, help="LayerNorm eps without config.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true",
                   help="verify the hook gradient (finite difference, fixture) instead of timing")
    return p.parse_args()


def check(a):
    """Finite-difference check of a tiny float64 model, plus the repository fixture if present."""
    torch.manual_seed(a.seed)
    dt = torch.float64
    layers, d, heads, vocab, ctx, batch, hook = 3, 32, 4, 101, 16, 2, 1
    model = GPT2(random_params(layers, d, vocab, ctx, dt, seed=a.seed, std=0.2), heads, 1e-5)
    ids = torch.randint(0, vocab, (batch, ctx))
    act, grad, _ = model.grad_at_hook(ids, hook)
    total = lambda x: model.token_losses_from_hook(x, ids, hook).sum().item()  # noqa: E731
    # The coordinate with the largest |gradient| (a generic one; the last position's is 0).
    flat = int(grad.abs().argmax())
    coord = np.unravel_index(flat, tuple(grad.shape))
    h = 1e-5
    plus, minus = act.clone(), act.clone()
    plus[coord] += h
    minus[coord] -= h
    fd = (total(plus) - total(minus)) / (2 * h)
    an = grad[coord].item()
    result = {
        "check": "hook_gradient",
        "fd": {"config": {"layers": layers, "d": d, "heads": heads, "vocab": vocab, "ctx": ctx,
                          "batch": batch, "hook": f"blocks.{hook}.hook_resid_post",
                          "dtype": "float64"},
               "coordinate": [int(c) for c in coord], "analytic": an, "finite_difference": fd,
               "rel_err": abs(an - fd) / max(abs(fd), 1e-30),
               "last_position_grad_max": grad[:, -1].abs().max().item()},
    }
    ok = result["fd"]["rel_err"] < 1e-6 and result["fd"]["last_position_grad_max"] == 0
    ref_path = os.path.join(FIXTURE, "reference.safetensors")
    if os.path.exists(ref_path):
        ref = read_safetensors(ref_path)
        params, cfg = load_weights(os.path.join(FIXTURE, "model", "model.safetensors"), 4, 1e-5,
                                   torch.float64)
        fixture = GPT2(params, cfg["heads"], cfg["eps"])
        fids = torch.from_numpy(ref["ids"].astype(np.int64))
        errs = {}
        for hook_layer, ref_hook in [(0, "blocks.0.hook_resid_post"),
                                     (1, "blocks.2.hook_resid_pre")]:  # = blocks.1 resid_post
            act_f, grad_f, loss_f = fixture.grad_at_hook(fids, hook_layer)
            want = torch.from_numpy(ref["grad." + ref_hook].astype(np.float64))
            want_act = torch.from_numpy(ref["act." + ref_hook].astype(np.float64))
            errs[f"blocks.{hook_layer}.hook_resid_post"] = {
                "grad_max_rel_err": ((grad_f - want).abs().max() / want.abs().max()).item(),
                "act_max_rel_err": ((act_f - want_act).abs().max() / want_act.abs().max()).item(),
            }
        want_loss = torch.from_numpy(ref["loss"].astype(np.float64))
        errs["loss_max_abs_err"] = (loss_f - want_loss).abs().max().item()
        result["fixture"] = {"path": os.path.relpath(FIXTURE, REPO_ROOT), **errs}
        ok = ok and errs["loss_max_abs_err"] < 1e-5 and all(
            v["grad_max_rel_err"] < 1e-5 and v["act_max_rel_err"] < 1e-5
            for k, v in errs.items() if k.startswith("blocks."))
    result["ok"] = ok
    result["torch"] = torch.__version__
    print(json.dumps(result))
    return 0 if ok else 1


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    if a.check:
        return check(a)
    torch.manual_seed(a.seed)
    if a.weights:
        params, cfg = load_weights(a.weights, a.heads, a.eps, torch.float32)
        source = os.path.abspath(a.weights)
    else:
        params = random_params(a.layers, a.d, a.vocab, a.ctx, torch.float32, seed=a.seed)
        cfg = {"layers": a.layers, "d": a.d, "heads": a.heads, "vocab": a.vocab,
               "positions": a.ctx, "eps": a.eps}
        source = "random"
    if a.ctx > cfg["positions"]:
        raise SystemExit(f"--ctx {a.ctx} exceeds the model's {cfg['positions']} positions")
    if not 0 <= a.hook_layer < cfg["layers"]:
        raise SystemExit(f"--hook-layer must be in [0, {cfg['layers'] - 1}]")
    model = GPT2(params, cfg["heads"], cfg["eps"])
    gen = torch.Generator().manual_seed(a.seed + 1)
    batches = [torch.randint(0, cfg["vocab"], (a.batch, a.ctx), generator=gen)
               for _ in range(a.warmup + a.steps)]
    times = []
    mean_loss = None
    for step, ids in enumerate(batches):
        t0 = time.perf_counter()
        _, grad, losses = model.grad_at_hook(ids, a.hook_layer)
        elapsed = time.perf_counter() - t0
        if step >= a.warmup:
            times.append(elapsed * 1000)
        mean_loss = losses.mean().item()
        if not math.isfinite(mean_loss) or not torch.isfinite(grad).all():
            raise SystemExit(f"torch_lm_grad: non-finite loss or gradient at step {step}")
    med = statistics.median(times)
    print(json.dumps({
        "work": {
            "task": "lm_hook_gradient",
            "weights": source,
            **{k: cfg[k] for k in ("layers", "d", "heads", "vocab")},
            "ctx": a.ctx,
            "batch": a.batch,
            "hook": f"blocks.{a.hook_layer}.hook_resid_post",
            "warmup": a.warmup,
            "steps": a.steps,
            "last_mean_loss": round(mean_loss, 6),
            "matches": "GPT2.gradAtHook (lib/gpt2/model.ts), row (b) of deno task bench",
        },
        "median_ms": round(med, 3),
        "tokens_per_s": round(a.batch * a.ctx / (med / 1000), 1),
        "times_ms": [round(t, 3) for t in times],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
