"""SAC on one MMBench task: the MMBench envs work with any TorchRL agent.

TorchRL's own SAC pieces (``SACLoss``, a ``ProbabilisticActor`` with a ``TanhNormal``, two
``ValueOperator`` Q networks, ``SoftUpdate``, a ``Collector`` and a ``ReplayBuffer``) train on
the env that ``newt.envs.make_env`` returns; nothing Newt-specific is involved.

    python recipes/sac_mmbench.py                                   # cartpole-balance, 100k steps
    python recipes/sac_mmbench.py --task walker-walk --steps 500_000
    python recipes/sac_mmbench.py --steps 400 --init-random-steps 100 --frames-per-batch 50 \
        --batch-size 32 --eval-episodes 0                           # a few seconds, a smoke test

Each evaluation prints the mean return and MMBench score of ``--eval-episodes`` deterministic
episodes (DMControl score: return / 1000).
"""
from __future__ import annotations

import argparse

import torch
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.envs import EnvBase, InitTracker, TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import SACLoss, SoftUpdate

from newt.envs import make_env, task_info


def make_train_env(task: str, seed: int) -> EnvBase:
    # TorchRL 0.14 collectors warn about (and 0.15 will add) an is_init entry on every env.
    return TransformedEnv(make_env(task, seed=seed), InitTracker())


def make_actor(env: EnvBase, num_cells: int) -> ProbabilisticActor:
    action_spec = env.action_spec_unbatched
    action_dim = action_spec.shape[-1]
    net = nn.Sequential(
        MLP(out_features=2 * action_dim, num_cells=[num_cells, num_cells], activation_class=nn.ReLU),
        NormalParamExtractor(scale_mapping="biased_softplus_1.0"),
    )
    return ProbabilisticActor(
        TensorDictModule(net, in_keys=["observation"], out_keys=["loc", "scale"]),
        in_keys=["loc", "scale"],
        spec=action_spec,
        distribution_class=TanhNormal,
        distribution_kwargs={"low": action_spec.space.low, "high": action_spec.space.high},
        return_log_prob=False,
        default_interaction_type=ExplorationType.RANDOM,
    )


def make_qvalue(num_cells: int) -> ValueOperator:
    net = MLP(out_features=1, num_cells=[num_cells, num_cells], activation_class=nn.ReLU)
    return ValueOperator(net, in_keys=["observation", "action"])


def evaluate(env: EnvBase, actor: ProbabilisticActor, episodes: int, episode_length: int) -> tuple[float, float]:
    """Mean return and final MMBench score of deterministic episodes."""
    returns, scores = [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        for _ in range(episodes):
            rollout = env.rollout(episode_length, actor)
            returns.append(rollout["next", "reward"].sum().item())
            scores.append(rollout["next", "score"][-1].item())
    return sum(returns) / episodes, sum(scores) / episodes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAC (TorchRL) on one MMBench task.")
    parser.add_argument("--task", default="cartpole-balance", help="an MMBench task name")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps to collect")
    parser.add_argument("--init-random-steps", type=int, default=5_000,
                        help="steps of uniformly random actions before the policy acts")
    parser.add_argument("--frames-per-batch", type=int, default=1_000)
    parser.add_argument("--utd", type=float, default=1.0, help="gradient updates per env step")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--buffer-size", type=int, default=1_000_000)
    parser.add_argument("--num-cells", type=int, default=256, help="hidden width of actor and critics")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--tau", type=float, default=0.005, help="Polyak rate of the target critics")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=2, help="0 disables evaluation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < args.frames_per_batch:
        parser.error(f"--steps ({args.steps}) must be at least --frames-per-batch ({args.frames_per_batch})")

    torch.manual_seed(args.seed)
    # An unknown task raises a KeyError listing close names before anything is built.
    episode_length = task_info(args.task).episode_length
    eval_env = make_env(args.task, seed=args.seed + 1)

    actor = make_actor(eval_env, args.num_cells)
    qvalue = make_qvalue(args.num_cells)
    # Initialise the lazy layers on a fake step.
    with torch.no_grad(), set_exploration_type(ExplorationType.RANDOM):
        fake = eval_env.fake_tensordict()
        actor(fake)
        qvalue(fake)

    loss = SACLoss(actor_network=actor, qvalue_network=qvalue, num_qvalue_nets=2,
                   loss_function="l2", delay_qvalue=True, alpha_init=1.0)
    loss.make_value_estimator(gamma=args.gamma)
    target_updater = SoftUpdate(loss, tau=args.tau)
    optimizer = torch.optim.Adam(loss.parameters(), lr=args.lr)

    collector = Collector(
        lambda: make_train_env(args.task, args.seed), actor, frames_per_batch=args.frames_per_batch,
        total_frames=args.steps, init_random_frames=args.init_random_steps,
    )
    replay = TensorDictReplayBuffer(storage=LazyTensorStorage(args.buffer_size), batch_size=args.batch_size)

    collected, next_eval = 0, args.eval_every
    for batch in collector:
        replay.extend(batch.reshape(-1))
        collected += batch.numel()
        metrics = {}
        if collected >= args.init_random_steps:
            for _ in range(max(1, int(args.utd * batch.numel()))):
                losses = loss(replay.sample())
                total = losses["loss_actor"] + losses["loss_qvalue"] + losses["loss_alpha"]
                optimizer.zero_grad()
                total.backward()
                optimizer.step()
                target_updater.step()
            metrics = {key: losses[key].item() for key in ("loss_actor", "loss_qvalue", "alpha")}
            collector.update_policy_weights_()
        line = f"step {collected:>8,}  " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        if args.eval_episodes and collected >= next_eval:
            mean_return, mean_score = evaluate(eval_env, actor, args.eval_episodes, episode_length)
            line += f"  eval return {mean_return:.1f} score {mean_score:.3f}"
            next_eval += args.eval_every
        print(line, flush=True)
    collector.shutdown()
    if args.eval_episodes:
        mean_return, mean_score = evaluate(eval_env, actor, args.eval_episodes, episode_length)
        print(f"final eval ({args.eval_episodes} episodes): return {mean_return:.1f} score {mean_score:.3f}")


if __name__ == "__main__":
    main()
