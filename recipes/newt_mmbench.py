"""Train Newt on MMBench: pretrain on demonstrations, then multitask online RL.

    python recipes/newt_mmbench.py                                  # all 200 tasks, model L
    python recipes/newt_mmbench.py task=dmcontrol data_dir=/data/mmbench
    python recipes/newt_mmbench.py task=cartpole-balance model_size=S steps=20_000
    python recipes/newt_mmbench.py checkpoint=runs/.../checkpoints/latest.pt   # resume

The run folder (``run_dir``) receives the resolved config, ``eval.csv`` / ``train.csv``
metrics, learning-curve PNGs refreshed at every evaluation, and atomic checkpoints
(``checkpoints/latest.pt`` and one per save) that resume exactly: weights, target Q, running
scale, optimisers, learning-rate schedule, step counters and RNG states (and the replay buffer
with ``save_buffer=true``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import hydra
import torch
import tqdm
from omegaconf import DictConfig, OmegaConf
from torchrl.collectors import Collector
from torchrl.envs.utils import ExplorationType
from torchrl.record.loggers import get_logger

import newt_utils as utils
from newt.collectors import EpisodeSplitter, episode_metrics


def log(logger, metrics: dict, step: int, prefix: str) -> None:
    if logger is not None:
        for key, value in metrics.items():
            logger.log_scalar(f"{prefix}/{key}", value, step=step)


@hydra.main(version_base="1.3", config_path="config", config_name="config")
def main(cfg: DictConfig) -> None:
    cfg = utils.resolve_config(cfg)
    rank, world_size = utils.init_distributed(cfg)
    main_rank = rank == 0
    run_dir = Path(cfg.run_dir)
    if main_rank:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, run_dir / "config.yaml")
    # Every rank builds the same initial model; the rest of the randomness differs per rank.
    torch.manual_seed(cfg.seed)

    tasks, env_tasks, env_task_indices = utils.train_tasks(cfg, rank, world_size)
    saved_run = utils.read_run(cfg.checkpoint) if cfg.checkpoint is not None else None
    resume = saved_run is not None
    use_demos = cfg.data_dir is not None and cfg.demo_steps > 0
    # Official schedule: LR warm-up when pretraining on demonstrations from scratch.
    warmup = use_demos and (cfg.checkpoint is None or resume)
    model, loss, updater, planner = utils.make_agent(
        cfg, tasks, warmup=warmup, official_checkpoint=cfg.checkpoint is not None and not resume,
        world_size=world_size,
    )
    torch.manual_seed(cfg.seed + rank)
    if main_rank:
        print(model)
    demos = utils.load_demonstrations(cfg, tasks, env_task_indices) if use_demos else None
    online, mixed = utils.make_replay(cfg, run_dir, demos, world_size, rank)
    replay = mixed if mixed is not None else online
    state, rng = utils.RunState(next_save=cfg.save_freq), None
    if resume:
        state, rng = utils.load_run(
            saved_run, cfg.checkpoint, loss, updater, planner, online if cfg.save_buffer else None
        )
        del saved_run  # its tensors were copied into the modules; free the memory
        utils.set_rng_state(rng)
        if main_rank:
            print(f"Resumed from {cfg.checkpoint} at step {state.step:,} ({state.updates:,} updates)")

    logger = None
    if cfg.logger != "csv" and main_rank:
        logger = get_logger(
            cfg.logger, logger_name=str(run_dir), experiment_name=cfg.exp_name,
            wandb_kwargs={"project": cfg.wandb_project, "config": OmegaConf.to_container(cfg)},
        )

    def update() -> dict:
        metrics = updater(replay.sample())
        state.updates += 1
        if world_size > 1:
            utils.average_across_ranks([loss.running_scale.value])
        return metrics

    def checkpoint(tag: str) -> None:
        if not main_rank:
            return
        path = utils.save_run(
            run_dir / "checkpoints" / f"{tag}.pt", cfg, loss, updater, planner, state,
            online if cfg.save_buffer else None,
        )
        utils.point_latest(path)
        bar.write(f"saved {path}")

    # ---- pretraining on demonstrations
    if use_demos and not state.pretrained:
        loss.pretraining = True
        save_every = max(1, cfg.demo_steps // 10)
        bar = tqdm.tqdm(total=cfg.demo_steps, initial=state.updates, desc="pretrain", disable=not main_rank)
        while state.updates < cfg.demo_steps:
            metrics = update()
            bar.update(1)
            if state.updates % 100 == 0:
                bar.set_postfix(consistency=f"{metrics['loss_consistency'].item():.3f}",
                                prior=f"{metrics['loss_prior'].item():.3f}")
            if state.updates % save_every == 0 and state.updates < cfg.demo_steps:
                checkpoint(f"pretrain_{state.updates}")
        loss.pretraining = False
        state.pretrained = True
        checkpoint("pretrained")
        bar.close()

    # ---- online multitask RL
    env = utils.make_environment(cfg, env_tasks, env_task_indices, rank)
    num_envs = len(env_tasks) * world_size
    longest = max(utils.task_info(t).episode_length for t in tasks)
    seeding_steps = cfg.seeding_coef * num_envs * longest
    policy = utils.SeedingPolicy(planner)
    collector = Collector(
        env, policy, frames_per_batch=len(env_tasks), total_frames=-1,
        exploration_type=ExplorationType.RANDOM, policy_device=cfg.device, storing_device=cfg.device,
    )
    collector_iter = iter(collector)
    splitter = EpisodeSplitter()

    def start_collection() -> None:
        # Every env starts a new episode from a seed that depends only on the step, so what
        # follows a checkpoint (written right after an evaluation) depends only on saved state.
        env.set_seed(cfg.seed + 1000 * rank + state.step + 1)
        collector.reset()
        splitter.reset()

    if rng is not None and (state.pretrained or not use_demos):
        # Building the env and the collector drew random numbers: restore the saved streams.
        utils.set_rng_state(rng)
        if state.step > 0:
            start_collection()
    round_episodes, update_metrics = [], {}
    bar = tqdm.tqdm(total=cfg.steps, initial=state.step, desc="train", unit="step",
                    smoothing=0.05, disable=not main_rank)
    start, start_step = time.perf_counter(), state.step
    while True:
        if state.step >= state.next_eval or state.step >= cfg.steps:
            planner.mpc = cfg.mpc and (state.step > 0 or cfg.finetune)
            # Seeding the envs by step makes everything after an evaluation (where checkpoints
            # are written) depend only on saved state: a resumed run continues exactly.
            env.set_seed(cfg.seed + 1000 * rank + state.step)
            per_task = utils.evaluate(env, planner, tasks, env_tasks, cfg.eval_episodes)
            per_task = utils.gather_eval(per_task, world_size)
            planner.mpc = cfg.mpc
            state.next_eval += cfg.eval_freq
            if main_rank:
                results = utils.summarize(per_task, tasks)
                results.update(updates=state.updates, time=time.perf_counter() - start)
                utils.append_csv(run_dir / "eval.csv", {"step": state.step, **results})
                utils.plot_learning_curves(run_dir / "eval.csv", run_dir)
                log(logger, results, state.step, "eval")
                bar.write(
                    f"eval @ {state.step:,} steps: score {results['score']:.3f}, "
                    f"return {results['return']:.1f}, success {results['success']:.3f}"
                )
                if cfg.save_video:
                    video = utils.record_video(
                        cfg, env_tasks[0], env_task_indices[0], len(tasks), planner,
                        run_dir / "videos" / f"{env_tasks[0]}_{state.step}.gif",
                    )
                    bar.write(f"video: {video}")
            if state.step >= state.next_save or state.step >= cfg.steps:
                state.next_save += cfg.save_freq
                checkpoint(f"step_{state.step}")
            if state.step >= cfg.steps:
                break
            # The eval rollout reset every env: start the collection afresh.
            start_collection()
        seeding = state.step < seeding_steps
        # Seeding acts with the policy prior once it has been pretrained (official), else at random.
        policy.random = seeding and not state.pretrained and not cfg.finetune
        planner.mpc = cfg.mpc and not seeding
        planner.set_step(state.step)
        batch = next(collector_iter)
        steps = batch.numel() * world_size
        state.step += steps
        bar.update(steps)
        episodes = splitter(batch)
        for episode in episodes:
            online.add_episodes(episode.select(*utils.TRAIN_KEYS))
        round_episodes.extend(episodes)
        # Updates start after seeding, once a whole episode is in the buffer.
        if not seeding and len(online):
            state.update_tokens += steps * cfg.utd
            num_updates = int(state.update_tokens)
            state.update_tokens -= num_updates
            for _ in range(num_updates):
                update_metrics = update()
        sps = (state.step - start_step) / (time.perf_counter() - start)
        bar.set_postfix(sps=f"{sps:.0f}")
        # One train row each time every env has finished a round of episodes (official logging).
        if state.step % (num_envs * longest) == 0 and main_rank and round_episodes:
            episode_stats = episode_metrics(round_episodes)
            row = {"step": state.step, "updates": state.updates, "steps_per_second": sps,
                   "episodes": len(round_episodes)}
            row.update({f"episode_{k}": utils.mean(episode_stats[k].tolist()) for k in ("return", "success", "score")})
            row.update({k: v.item() for k, v in update_metrics.items()})
            utils.append_csv(run_dir / "train.csv", row)
            log(logger, row, state.step, "train")
            round_episodes = []
    bar.close()
    collector.shutdown()
    env.close()
    if world_size > 1:
        utils.check_replicas_equal(loss)
        torch.distributed.destroy_process_group()
    if main_rank:
        print(f"Done: {state.step:,} env steps, {state.updates:,} updates. Run folder: {run_dir}")


if __name__ == "__main__":
    main()
