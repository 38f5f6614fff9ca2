"""Update time: newt's NewtLoss + NewtUpdater vs the official ``TDMPC2.update``.

Both update the same B-size multitask world model (observation 128, action 16, 512-d task
embeddings) on batches of 256 slices of 4 steps, in the official order: model step with
gradient clipping, target Q update, then the policy step. The official agent is imported from
``NEWT_OFFICIAL_PATH`` (the official ``tdmpc2/`` directory; see ``benchmarks/planner.py`` for
how it is loaded on CPU). Both run in online mode (max-Q policy update) unless
``--pretraining`` is given.

Usage::

    NEWT_OFFICIAL_PATH=/tmp/official/tdmpc2 python benchmarks/update.py --batch 256

The two updates are run in turn, ``--repeats`` rounds after a warm-up round, and each one's
median CPU time is reported; on a shared machine the figures are still noisy.
"""
from __future__ import annotations

import argparse
import copy

import torch
from tensordict import TensorDict

from newt.objectives import NewtLoss, NewtUpdater
from planner import (
    ACTION_DIM,
    NUM_TASKS,
    OBS_DIM,
    benchmark_discounts,
    make_world_model,
    interleaved_times,
    official_agent,
)

HORIZON = 3


class _FixedBatch:
    """Hands the official agent the same batch on every ``sample`` (its buffer interface)."""

    def __init__(self, batch: TensorDict):
        # The official layout is time-major: obs [H+1, B, .], action / reward / task [H, B, .].
        self.sample_out = (
            batch["observation"].transpose(0, 1).contiguous(),
            batch["action"][:, :HORIZON].transpose(0, 1).contiguous(),
            batch["next", "reward"][:, :HORIZON].transpose(0, 1).contiguous(),
            batch["task"][:, :HORIZON, 0].transpose(0, 1).contiguous(),
        )

    def sample(self, device):
        return self.sample_out


def make_batch(batch_size: int, model) -> TensorDict:
    gen = torch.Generator().manual_seed(0)
    steps = HORIZON + 1
    task = torch.randint(0, NUM_TASKS, (batch_size,), generator=gen)
    mask = model.action_masks[task].unsqueeze(1)
    return TensorDict(
        {
            "observation": torch.randn(batch_size, steps, OBS_DIM, generator=gen),
            "action": (torch.rand(batch_size, steps, ACTION_DIM, generator=gen) * 2 - 1) * mask,
            ("next", "reward"): torch.rand(batch_size, steps, 1, generator=gen) * 10,
            "task": task[:, None, None].expand(batch_size, steps, 1).contiguous(),
        },
        batch_size=[batch_size, steps],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="B")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--pretraining", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="also time NewtUpdater(compile=True) on a copy of the loss")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    discounts = benchmark_discounts()
    model = make_world_model(args.size)
    batch = make_batch(args.batch, model)
    agent = official_agent(model, 1, args.batch, discounts)  # copies the weights before we train

    loss = NewtLoss(model, discount=discounts, pretraining=args.pretraining)
    updater = NewtUpdater(loss)
    candidates = {"newt": lambda: updater(batch)}
    if args.compile:
        compiled = NewtUpdater(copy.deepcopy(loss), compile=True)
        compiled(batch)  # compiles
        candidates["compiled"] = lambda: compiled(batch)
    if agent is not None:
        agent.maxq_pi = not args.pretraining
        if args.pretraining:
            agent.cfg.prior_coef = 1.0
        buffer = _FixedBatch(batch)
        candidates["official"] = lambda: agent.update(buffer)
    times = interleaved_times(candidates, args.repeats)
    newt, official = times["newt"], times.get("official", float("nan"))

    mode = "pretraining" if args.pretraining else "online"
    print(f"model size {args.size}, batch {args.batch}, {mode}, {args.threads} thread(s), "
          f"seconds per update (median CPU time of {args.repeats} interleaved updates)")
    header = f"{'newt':>9} {'official':>9} {'newt/official':>14}"
    line = f"{newt:>9.4f} {official:>9.4f} {newt / official:>14.2f}"
    if args.compile:
        header += f" {'compiled':>9} {'compiled/newt':>14}"
        line += f" {times['compiled']:>9.4f} {times['compiled'] / newt:>14.2f}"
    print(header)
    print(line)


if __name__ == "__main__":
    main()
