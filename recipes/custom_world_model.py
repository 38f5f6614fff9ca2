"""Newt's world model, loss and planner on an env that is not in MMBench (Pendulum-v1).

A plain TorchRL training loop built from newt's blocks, with no MMBench layout and no recipe
machinery: a single-task ``NewtWorldModel`` (no task conditioning), ``MPPIPlanner`` as the
collector's policy, whole episodes into an ``EpisodeReplayBuffer`` through an
``EpisodeSplitter``, and ``NewtLoss`` + ``NewtUpdater`` for the updates.

    python recipes/custom_world_model.py                       # 20k steps, planner at full size
    python recipes/custom_world_model.py --steps 400 --seed-steps 200 --frames-per-batch 100 \
        --num-samples 32 --num-elites 8 --num-pi-trajs 4 --iterations 2 --latent-dim 16 \
        --mlp-dim 32 --enc-dim 32 --batch-size 16
                                                               # seconds: a smoke test

Pendulum's torque lives in [-2, 2]; ``ActionScaling`` exposes it as [-1, 1], the range of the
planner's tanh-squashed actions. Its episodes last 200 steps (gymnasium's time limit).
"""
from __future__ import annotations

import argparse

import torch
from torchrl.collectors import Collector
from torchrl.envs import ActionScaling, Compose, EnvBase, GymEnv, InitTracker, StepCounter, TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from newt.collectors import EpisodeReplayBuffer, EpisodeSplitter, episode_metrics
from newt.modules import MPPIPlanner, NewtWorldModel
from newt.objectives import NewtLoss, NewtUpdater

EPISODE_LENGTH = 200


def make_pendulum(seed: int) -> EnvBase:
    env = TransformedEnv(GymEnv("Pendulum-v1"), Compose(ActionScaling(), InitTracker(), StepCounter()))
    env.set_seed(seed)
    return env


def evaluate(env: EnvBase, planner: MPPIPlanner, episodes: int) -> float:
    """Mean return of episodes with the planner's deterministic action."""
    returns = []
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        for _ in range(episodes):
            rollout = env.rollout(EPISODE_LENGTH, planner)
            returns.append(rollout["next", "reward"].sum().item())
    return sum(returns) / len(returns)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Newt world model + MPPI planner on Pendulum-v1.")
    parser.add_argument("--steps", type=int, default=20_000, help="env steps to collect")
    parser.add_argument("--seed-steps", type=int, default=1_000,
                        help="steps of uniformly random actions before planning and updates")
    parser.add_argument("--frames-per-batch", type=int, default=200)
    parser.add_argument("--utd", type=float, default=0.5, help="updates per env step")
    parser.add_argument("--batch-size", type=int, default=256, help="slices per update")
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--model-size", default="S", choices=["S", "B", "L", "XL"])
    parser.add_argument("--latent-dim", type=int, default=None, help="override the size's latent width")
    parser.add_argument("--mlp-dim", type=int, default=None, help="override the size's hidden width")
    parser.add_argument("--enc-dim", type=int, default=None, help="override the size's encoder width")
    parser.add_argument("--num-samples", type=int, default=512)
    parser.add_argument("--num-elites", type=int, default=64)
    parser.add_argument("--num-pi-trajs", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--eval-episodes", type=int, default=2, help="0 disables evaluation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < args.frames_per_batch:
        parser.error(f"--steps ({args.steps}) must be at least --frames-per-batch ({args.frames_per_batch})")

    torch.manual_seed(args.seed)
    env = make_pendulum(args.seed)
    obs_dim = env.observation_spec["observation"].shape[-1]
    action_dim = env.action_spec.shape[-1]
    widths = {"latent_dim": args.latent_dim, "mlp_dim": args.mlp_dim, "enc_dim": args.enc_dim}
    overrides = {name: width for name, width in widths.items() if width is not None}
    model = NewtWorldModel(obs_dim, action_dim, args.model_size, **overrides)
    planner = MPPIPlanner(
        model, horizon=args.horizon, num_samples=args.num_samples, num_elites=args.num_elites,
        num_pi_trajs=args.num_pi_trajs, iterations=args.iterations, constrained_planning=False,
    )
    loss = NewtLoss(model, episode_length=EPISODE_LENGTH)
    updater = NewtUpdater(loss)

    replay = EpisodeReplayBuffer(max(args.steps, EPISODE_LENGTH), batch_size=args.batch_size, horizon=args.horizon)
    splitter = EpisodeSplitter()
    collector = Collector(
        lambda: make_pendulum(args.seed), planner, frames_per_batch=args.frames_per_batch,
        total_frames=args.steps, init_random_frames=args.seed_steps,
    )
    collected = 0
    for batch in collector:
        collected += batch.numel()
        episodes = splitter(batch)
        for episode in episodes:
            replay.add_episodes(episode)
        line = f"step {collected:>7,}"
        if episodes:
            line += f"  train return {episode_metrics(episodes)['return'].mean().item():8.1f}"
        if collected >= args.seed_steps and len(replay):
            for _ in range(max(1, int(args.utd * batch.numel()))):
                metrics = updater(replay.sample())
            line += "  " + "  ".join(
                f"{key} {metrics[key].item():.3f}" for key in ("loss_consistency", "loss_reward", "loss_value", "loss_pi")
            )
            collector.update_policy_weights_()
        print(line, flush=True)
    collector.shutdown()
    if args.eval_episodes:
        print(f"eval return ({args.eval_episodes} episodes): {evaluate(env, planner, args.eval_episodes):.1f}")


if __name__ == "__main__":
    main()
