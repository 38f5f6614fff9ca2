"""Q-ensemble evaluation: NewtWorldModel (stacked params + torch.vmap, 2 drawn heads only) vs the
official pattern (a Python loop over all heads with the task embedding concatenated to every
row and ``torch.nn.Mish``, stack, then pick 2).

Run: ``python benchmarks/world_model_q_ensemble.py [--size B] [--batch 512] [--threads 1]``.
Prints milliseconds per call and the ratio (official / ours; > 1 means ours is faster). CPU
timings on a shared machine are noisy: compare ratios, not absolute figures.
"""

import argparse
import time

import torch
from torch import nn

from newt.modules import NewtWorldModel, mlp
from newt.modules.layers import Mish


def time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="B", choices=["S", "B", "L", "XL"])
    parser.add_argument("--batch", type=int, default=512, help="samples per call (MPPI: 512)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = NewtWorldModel(128, 16, args.size, task_embeddings=torch.randn(200, 384))
    with torch.no_grad():  # non-trivial heads
        for tensor in model.q_params.values(True, True):
            tensor.normal_(0, 0.02)
    # The official layout: one module per head, sharing the model's tensors.
    in_features = model.latent_dim + model.task_dim + model.action_dim
    heads = []
    for k in range(model.num_q):
        head = mlp(in_features, 2 * [model.mlp_dim], model.num_bins)
        for index, layer in enumerate(head):
            if isinstance(layer, Mish):
                head[index] = nn.Mish()
        model.q_params[k].data.to_module(head)
        heads.append(head)

    task = torch.zeros(1, dtype=torch.long)
    z = torch.rand(1, args.batch, model.latent_dim)
    a = torch.rand(1, args.batch, model.action_dim) * 2 - 1

    def official_all():
        x = torch.cat([z, model.task_embeddings[task][:, None].expand(1, args.batch, -1), a], -1)
        return torch.stack([head(x) for head in heads])

    def official_avg():
        logits = official_all()
        pick = torch.randperm(model.num_q)[:2]
        return model.two_hot.decode(logits[pick]).mean(0)

    rows = [
        ("Q(..., 'avg')  [2 random heads]", lambda: model.Q(z, a, task, "avg"), official_avg),
        ("Q(..., 'all')  [every head]", lambda: model.Q(z, a, task, "all"), official_all),
    ]
    print(f"size {args.size}, num_q {model.num_q}, batch {args.batch}, threads {args.threads}")
    print(f"{'call':34s} {'ours ms':>9s} {'official ms':>12s} {'ratio':>7s}")
    with torch.no_grad():
        torch.testing.assert_close(model.Q(z, a, task, "all"), official_all(), rtol=1e-4, atol=1e-4)
        for name, ours, official in rows:
            ours_ms = time_ms(ours, args.repeats)
            official_ms = time_ms(official, args.repeats)
            print(f"{name:34s} {ours_ms:9.2f} {official_ms:12.2f} {official_ms / ours_ms:7.2f}")


if __name__ == "__main__":
    main()
