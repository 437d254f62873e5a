#!/usr/bin/python3
"""PyTorch CPU reference for one SAE training step: row (a) of `deno task bench`.

Mirrors lib/sae/trainer.ts + lib/sae/topk.ts / gsae.ts + lib/tensor/optim.ts at the benchmark sizes:

  batch     rows gathered from a preallocated activation (and gradient) tensor of 8 * batch rows
            through a seeded per-epoch permutation (the trainer's batchIndices + gatherRows)
  forward   z = (x - b_dec) W_enc + b_enc; mask = per-row top-k of z (topk) or of the g-SAE score
            s = z * (1 + beta * u), u = |g W_dec^T| / mean(u) (gsae, selection only, no grad);
            latents = ReLU(z) * mask (dense); x_hat = latents W_dec + b_dec
  loss      sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (AuxK is 0: nothing is dead in the bench)
  backward  then the W_dec gradient loses its component along each W_dec row
  step      Adam (lr 1e-4, betas 0.9/0.999, eps 1e-8, no weight decay), then W_dec rows renormalised
  logging   loss, L0 and per-latent firing counts read back each step, as the trainer does

Each timed step runs all of the above; time.perf_counter around it. Prints one JSON line.
Run with Debian's torch: /usr/bin/python3 pipelines/bench/torch_sae_step.py --arch topk
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["topk", "gsae"], default="topk")
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--latents", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=6, help="timed steps (after warmup)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--beta", type=float, default=1.0, help="g-SAE selection strength")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", choices=["dense", "sparse"], default="dense",
                   help="dense: mask the [batch, latents] code and matmul (default); sparse: "
                        "gather the selected encoder columns, embedding_bag decode (sparsify-style)")
    return p.parse_args()


def batch_rows(n, batch, step, seed):
    """Row indices of the batch at `step`: epochs are seeded permutations of [0, n)."""
    out = torch.empty(batch, dtype=torch.long)
    perm, perm_epoch = None, -1
    first = step * batch
    i = 0
    while i < batch:
        g = first + i
        epoch = g // n
        if epoch != perm_epoch:
            gen = torch.Generator().manual_seed(seed * 7919 + epoch * 104729 + 1)
            perm, perm_epoch = torch.randperm(n, generator=gen), epoch
        take = min(batch - i, n - g % n)
        out[i:i + take] = perm[g % n:g % n + take]
        i += take
    return out


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    n, d, m = 8 * a.batch, a.d, a.latents

    # Preallocated "store": activations N(0, 1), gradients N(0, 1e-3) (lib/bench/bench.ts benchActivations).
    data_x = torch.randn(n, d)
    data_g = torch.randn(n, d) * 1e-3 if a.arch == "gsae" else None

    # Tied init (Gao et al.): unit-norm decoder rows, W_enc = W_dec^T, zero biases.
    w_dec0 = torch.randn(m, d)
    w_dec0 /= w_dec0.norm(dim=1, keepdim=True)
    W_dec = torch.nn.Parameter(w_dec0)
    W_enc = torch.nn.Parameter(w_dec0.t().contiguous())
    b_enc = torch.nn.Parameter(torch.zeros(m))
    b_dec = torch.nn.Parameter(data_x[batch_rows(n, a.batch, 0, a.seed)].mean(0))  # "mean" init
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=a.lr, betas=(0.9, 0.999), eps=1e-8)

    firing_counts = torch.zeros(m)
    tokens_since_fired = torch.zeros(m)
    times, last = [], {}
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        rows = batch_rows(n, a.batch, step, a.seed)
        x = data_x.index_select(0, rows)
        g = data_g.index_select(0, rows) if data_g is not None else None

        xc = x - b_dec
        if a.impl == "dense":
            z = xc @ W_enc + b_enc
        with torch.no_grad():
            zs = z if a.impl == "dense" else torch.addmm(b_enc, xc, W_enc)
            if g is None:
                score = zs
            else:
                u = (g @ W_dec.t()).abs_()
                u /= u.mean().clamp_min(1e-30)
                score = zs * (1 + a.beta * u)
            idx = torch.topk(score, a.k, dim=1, sorted=False).indices
        if a.impl == "dense":
            mask = torch.zeros_like(z).scatter_(1, idx, 1.0)
            latents = torch.relu(z) * mask
            recon = latents @ W_dec + b_dec
        else:
            # Sparse, like EleutherAI/sparsify: only the selected latents' encoder columns and
            # decoder rows enter the graph (gathered rows; embedding_bag decode).
            pre = torch.einsum("nkd,nd->nk", W_enc.t()[idx], xc) + b_enc[idx]
            values = torch.relu(pre)
            recon = F.embedding_bag(idx, W_dec, per_sample_weights=values, mode="sum") + b_dec
        err = (x - recon).pow(2).sum()
        centred = (x - x.mean(0, keepdim=True)).pow(2).sum()
        loss = err / centred.clamp_min(1e-12)

        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            gd = W_dec.grad
            gd -= (gd * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
            # The trainer's per-step bookkeeping: loss, L0 and firing counts read back.
            if a.impl == "dense":
                nz = latents.detach() != 0
                fired = nz.sum(0).float()
                l0 = nz.sum(1).float().mean().item()
            else:
                on = values.detach() != 0
                fired = torch.zeros(m).index_add_(0, idx[on], torch.ones(int(on.sum())))
                l0 = on.sum(1).float().mean().item()
            loss_value = loss.item()
            firing_counts += fired
            tokens_since_fired = torch.where(fired > 0, torch.zeros_like(tokens_since_fired),
                                             tokens_since_fired + a.batch)
        elapsed = time.perf_counter() - t0
        if step >= a.warmup:
            times.append(elapsed * 1000)
        if not torch.isfinite(torch.tensor(loss_value)):
            raise SystemExit(f"torch_sae_step: loss is {loss_value} at step {step}")
        last = {"loss": loss_value, "l0": l0}

    med = statistics.median(times)
    row_norm_err = (W_dec.detach().norm(dim=1) - 1).abs().max().item()
    print(json.dumps({
        "work": {
            "task": "sae_train_step",
            "arch": a.arch,
            "impl": a.impl,
            "d": d,
            "latents": m,
            "k": a.k,
            "batch": a.batch,
            "beta": a.beta if a.arch == "gsae" else None,
            "optimizer": "Adam",
            "lr": a.lr,
            "warmup": a.warmup,
            "steps": a.steps,
            "final_loss": round(last["loss"], 6),
            "final_l0": last["l0"],
            "w_dec_row_norm_max_err": row_norm_err,
            "matches": "deno task bench (pipelines/bench.ts), row SAE step, " + a.arch,
        },
        "median_ms": round(med, 3),
        "tokens_per_s": round(a.batch / (med / 1000), 1),
        "times_ms": [round(t, 3) for t in times],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
