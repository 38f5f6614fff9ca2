"""Factories and helpers of the ``newt_mmbench.py`` recipe (TorchRL ``sota-implementations`` style).

Everything reusable lives in the ``newt`` package; this file only turns the hydra config into
constructor calls and holds the recipe's bookkeeping (run state, checkpoints, plots).
"""
from __future__ import annotations

import csv
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDict
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import InitTracker, TransformedEnv

from newt.collectors import (
    EpisodeReplayBuffer,
    EpisodeSplitter,
    MixedReplayBuffer,
    episode_metrics,
    load_demos,
    load_official_demos,
)
from newt.envs import MAX_ACTION_DIM, MAX_OBS_DIM, task_info, task_set
from newt.envs.factory import make_multitask_env
from newt.modules import NewtWorldModel
from newt.modules.planner import MPPIPlanner
from newt.modules.checkpoint import load_checkpoint, save_checkpoint
from newt.objectives import NewtLoss, NewtUpdater

# ====================================================================
# Config
# --------------------------------------------------------------------

_CHOICES = {
    "obs": ("state", "rgb"),
    "model_size": ("S", "B", "L", "XL", None),
    "demo_format": ("official", "newt"),
    "logger": ("csv", "tensorboard", "wandb"),
    "compile_mode": (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
}


def resolve_config(cfg: DictConfig) -> DictConfig:
    """Validate the config and fill the values that depend on others (in place).

    Raises:
        ValueError / KeyError: naming the bad value and the allowed ones.
    """
    for key, allowed in _CHOICES.items():
        if cfg[key] not in allowed:
            raise ValueError(f"{key}={cfg[key]!r} is not one of {list(allowed)}")
    tasks = task_set(cfg.task)
    multitask = len(tasks) > 1
    for key in ("steps", "num_envs", "horizon", "eval_episodes", "iterations", "num_samples"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {cfg[key]!r}")
    for key in ("utd", "lr", "demo_fraction"):
        if cfg[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {cfg[key]!r}")
    if cfg.demo_fraction > 1:
        raise ValueError(f"demo_fraction must be in [0, 1], got {cfg.demo_fraction}")
    if cfg.device == "auto":
        cfg.device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={cfg.device!r} but CUDA is not available; use device=cpu")
    if cfg.threads is None and not cfg.device.startswith("cuda"):
        # The planner's matmuls are small: extra intra-op threads gain little and, as soon as
        # env workers or other processes compete for the cores, spin-waiting makes every op
        # 10-50x slower (measured on a 2-core machine).
        cfg.threads = 1
    if cfg.threads is not None:
        if not isinstance(cfg.threads, int) or cfg.threads < 1:
            raise ValueError(f"threads must be a positive integer or null, got {cfg.threads!r}")
        torch.set_num_threads(cfg.threads)
    if not isinstance(cfg.compile, bool):
        raise ValueError(f"compile must be true or false, got {cfg.compile!r}")
    if cfg.compile_mode is None and cfg.compile:
        cfg.compile_mode = "reduce-overhead" if cfg.device.startswith("cuda") else "default"
    if cfg.model_size is None:
        cfg.model_size = "L" if multitask else "B"
    if cfg.batch_size is None:
        cfg.batch_size = 1024 if cfg.device.startswith("cuda") else 256
    if cfg.finetune and multitask:
        raise ValueError("finetune=true fine-tunes on one task; got the task set " f"{cfg.task!r}")
    if cfg.finetune and not cfg.checkpoint:
        raise ValueError("finetune=true needs checkpoint=<path of a multitask checkpoint>")
    if cfg.data_dir is not None and not Path(cfg.data_dir).is_dir():
        raise ValueError(f"data_dir={cfg.data_dir!r} is not a folder")
    num_envs = len(tasks) if multitask else cfg.num_envs
    if cfg.eval_freq is None:
        cfg.eval_freq = 20 * 500 * num_envs
    # Evaluation resets every env: it must fall where every training episode has ended.
    longest = max(task_info(t).episode_length for t in tasks)
    lengths = {task_info(t).episode_length for t in tasks}
    if any(longest % n for n in lengths):
        raise ValueError(f"episode lengths {sorted(lengths)} must all divide the longest ({longest})")
    if cfg.eval_freq % (num_envs * longest):
        raise ValueError(
            f"eval_freq ({cfg.eval_freq}) must be a multiple of num_envs x longest episode "
            f"({num_envs} x {longest} = {num_envs * longest}) so that evaluations, which reset "
            "every env, fall on episode boundaries"
        )
    if cfg.save_freq is None:
        cfg.save_freq = 5 * cfg.eval_freq
    if cfg.save_freq % cfg.eval_freq:
        raise ValueError(
            f"save_freq ({cfg.save_freq}) must be a multiple of eval_freq ({cfg.eval_freq}): "
            "checkpoints are written right after an evaluation, when every env starts afresh"
        )
    return cfg


@dataclass
class RunState:
    """Counters of a run, saved with every checkpoint."""

    step: int = 0
    updates: int = 0
    update_tokens: float = 0.0
    pretrained: bool = False
    next_eval: int = 0
    next_save: int = -1


# ====================================================================
# Environment
# --------------------------------------------------------------------


def train_tasks(cfg: DictConfig, rank: int = 0, world_size: int = 1):
    """The run's tasks, and this rank's envs: ``(tasks, env_tasks, env_task_indices)``.

    A task set runs one env per task, a single task ``num_envs`` copies; with several ranks,
    env ``i`` goes to rank ``i % world_size`` (official split). ``env_task_indices`` are
    indices into ``tasks`` (the model's task table).
    """
    tasks = list(task_set(cfg.task))
    envs = list(range(len(tasks))) if len(tasks) > 1 else [0] * cfg.num_envs
    if len(envs) % world_size:
        raise ValueError(
            f"{len(envs)} envs cannot be split evenly over {world_size} ranks; "
            "choose num_envs (or the number of processes) so that it divides"
        )
    indices = envs[rank::world_size]
    return tasks, [tasks[i] for i in indices], indices


def make_environment(cfg: DictConfig, env_tasks: list[str], task_indices: list[int], rank: int = 0):
    env = make_multitask_env(
        env_tasks,
        obs=cfg.obs,
        seed=cfg.seed + 1000 * rank,
        num_workers=cfg.num_workers,
        render_size=cfg.render_size,
        task_indices=task_indices,
    )
    # is_init marks episode starts for the planner's warm start.
    return TransformedEnv(env, InitTracker())


# ====================================================================
# Agent
# --------------------------------------------------------------------


def task_embeddings(cfg: DictConfig, tasks: list[str]) -> torch.Tensor:
    if cfg.task_embeddings == "newt":
        from newt.envs.language import instruction_embeddings

        return instruction_embeddings(tasks)
    from newt.envs.language import load_official_task_embeddings

    return load_official_task_embeddings(cfg.task_embeddings, tasks)


def make_agent(
    cfg: DictConfig, tasks: list[str], warmup: bool, official_checkpoint: bool = False, world_size: int = 1
):
    """World model, loss, updater and planner for ``tasks``.

    With ``official_checkpoint``, the world model's weights come from ``cfg.checkpoint`` (a
    file written by the official code). For ``finetune=true`` every row of the checkpoint's
    task table and action masks becomes the fine-tuning task, as the official fine-tuning does,
    so whatever task index the checkpoint learned maps to the new task.
    """
    infos = [task_info(t) for t in tasks]
    multitask = len(tasks) > 1
    action_dims = [i.action_dim for i in infos]
    if official_checkpoint:
        model = NewtWorldModel.from_official_checkpoint(
            cfg.checkpoint, MAX_OBS_DIM, MAX_ACTION_DIM, cfg.model_size,
            task_embeddings=task_embeddings(cfg, tasks) if multitask else None,
            action_dims=action_dims if multitask else None,
        )
        if cfg.finetune:
            if model.task_embeddings is not None:
                embedding = task_embeddings(cfg, tasks)[0]
                if embedding.numel() != model.task_dim:
                    raise ValueError(
                        f"the checkpoint's task embeddings are {model.task_dim}-d but "
                        f"task_embeddings={cfg.task_embeddings!r} gives {embedding.numel()}-d ones; "
                        "pass task_embeddings=<path of the official tasks.json>"
                    )
                model.task_embeddings.copy_(embedding.expand_as(model.task_embeddings))
            model.action_masks.zero_()
            model.action_masks[:, : infos[0].action_dim] = 1
    else:
        model = NewtWorldModel(
            MAX_OBS_DIM,
            MAX_ACTION_DIM,
            cfg.model_size,
            task_embeddings=task_embeddings(cfg, tasks) if multitask else None,
            action_dims=action_dims,
            **cfg.model_kwargs,
        )
    model = model.to(cfg.device)
    discounts = [i.discount for i in infos] if multitask else infos[0].discount
    loss = NewtLoss(
        model,
        discount=discounts,
        rho=cfg.rho,
        consistency_coef=cfg.consistency_coef,
        reward_coef=cfg.reward_coef,
        value_coef=cfg.value_coef,
        entropy_coef=cfg.entropy_coef,
        bc_coef=cfg.bc_coef,
        prior_coef=cfg.prior_coef,
        scale_tau=cfg.tau,
    ).to(cfg.device)
    compile_arg = {"mode": cfg.compile_mode} if cfg.compile else False
    updater = NewtUpdater(
        loss,
        lr=cfg.lr,
        enc_lr_scale=cfg.enc_lr_scale,
        grad_clip_norm=cfg.grad_clip_norm,
        tau=cfg.tau,
        warmup_steps=cfg.warmup_steps if warmup else 0,
        grad_sync=average_gradients if world_size > 1 else None,
        compile=compile_arg,
    )
    planner = MPPIPlanner(
        model,
        horizon=cfg.horizon,
        num_samples=cfg.num_samples,
        num_elites=cfg.num_elites,
        num_pi_trajs=cfg.num_pi_trajs,
        iterations=cfg.iterations,
        min_std=cfg.min_std,
        max_std=cfg.max_std,
        temperature=cfg.temperature,
        discount=discounts,
        mpc=cfg.mpc,
        constrained_planning=cfg.constrained_planning,
        constraint_start_step=cfg.constraint_start_step,
        constraint_final_step=cfg.constraint_final_step,
        compile=compile_arg,
    ).to(cfg.device)
    return model, loss, updater, planner


class SeedingPolicy(TensorDictModuleBase):
    """Acts with ``policy``, or uniformly at random over each task's real action dims.

    The official seeding phase without demonstrations samples actions uniformly in
    ``[-1, 1]``; here the padded dims stay 0 (they never reach the env, and zero keeps them
    out of the model's inputs, as the planner's actions do).
    """

    def __init__(self, policy: TensorDictModuleBase, action_key="action", mask_key="action_mask"):
        super().__init__()
        self.policy = policy
        self.random = False
        self.action_key, self.mask_key = action_key, mask_key
        self.in_keys = list(policy.in_keys) + [mask_key]
        self.out_keys = [action_key]

    def forward(self, tensordict):
        if not self.random:
            return self.policy(tensordict)
        mask = tensordict.get(self.mask_key)
        action = torch.rand(mask.shape, device=mask.device) * 2 - 1
        tensordict.set(self.action_key, action * mask)
        return tensordict


# ====================================================================
# Replay and demonstrations
# --------------------------------------------------------------------


def load_demonstrations(cfg: DictConfig, tasks: list[str], rank_tasks: list[int] | None = None) -> TensorDict:
    """Demonstrations of ``tasks`` (``task`` = index in ``tasks``), keeping only the tasks in
    ``rank_tasks`` when given (each rank trains on its own tasks' data)."""
    limits = {t: 20 for t in tasks if t.startswith("ms-")}
    if cfg.max_demo_episodes is not None:
        limits = {t: min(cfg.max_demo_episodes, limits.get(t, math.inf)) for t in tasks}
    if cfg.demo_format == "official":
        demos = load_official_demos(cfg.data_dir, tasks, limits, missing="skip")
    else:
        demos = load_demos(cfg.data_dir, tasks, limits)
    if rank_tasks is not None:
        demos = demos[torch.isin(demos["task"].squeeze(-1), torch.tensor(sorted(set(rank_tasks))))]
    return demos


#: What the replay buffers store of each transition (the entries NewtLoss reads, plus done flags).
TRAIN_KEYS = (
    "observation",
    "action",
    "task",
    ("next", "observation"),
    ("next", "reward"),
    ("next", "done"),
    ("next", "terminated"),
    ("next", "truncated"),
)


def make_replay(cfg: DictConfig, run_dir: Path, demos: TensorDict | None, world_size: int = 1, rank: int = 0):
    """Online buffer and, with demonstrations, the demo/online mixture; each rank samples
    ``batch_size / world_size`` slices (the official split of the batch over GPUs)."""
    capacity = min(cfg.buffer_size, cfg.steps + (demos.numel() if demos is not None else 0))
    capacity = max(capacity, cfg.horizon + 1)

    def buffer(size, name):
        return EpisodeReplayBuffer(
            size,
            batch_size=max(1, cfg.batch_size // world_size),
            horizon=cfg.horizon,
            device=cfg.device,
            scratch_dir=run_dir / "buffer" / f"{name}{rank}" if cfg.buffer_on_disk else None,
        )

    online = buffer(capacity, "online")
    if demos is None:
        return online, None
    demos = demos.select(*TRAIN_KEYS, "episode")
    demo_buffer = buffer(demos.numel(), "demos")
    demo_buffer.extend(demos)
    # As the official pipeline, demonstrations also start in the online buffer.
    online.extend(demos)
    return online, MixedReplayBuffer(online, demo_buffer, demo_fraction=cfg.demo_fraction)


# ====================================================================
# Evaluation
# --------------------------------------------------------------------


def evaluate(
    env, policy, tasks: list[str], env_tasks: list[str], episodes: int
) -> dict[str, dict[str, list[float]]]:
    """Run every env for ``episodes`` episodes of the longest task with deterministic actions.

    As the official protocol, every episode that ends counts (short tasks contribute more
    episodes). ``tasks`` is the model's task list (the env's ``task`` entry indexes it) and
    ``env_tasks`` this process's envs. Returns ``{task: {"return": [...], "success": [...],
    "score": [...]}}``.
    """
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    longest = max(task_info(t).episode_length for t in env_tasks)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout = env.rollout(longest * episodes, policy, break_when_any_done=False)
    metrics = episode_metrics(EpisodeSplitter()(rollout))
    per_task: dict[str, dict[str, list[float]]] = {}
    for index, row in zip(metrics["task"].tolist(), metrics.unbind(0)):
        values = per_task.setdefault(tasks[index], {"return": [], "success": [], "score": []})
        for key in values:
            values[key].append(row[key].item())
    return per_task


def mean(values) -> float:
    """Mean over the non-NaN values (NaN when there are none, e.g. success on DMControl)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def summarize(per_task: dict[str, dict[str, list[float]]], order: list[str]) -> dict[str, float]:
    """Per-task means, per-domain mean scores, the unweighted mean over tasks (the paper's
    score) and the mean over domains (the official console's "weighted score")."""
    results: dict[str, float] = {}
    means = {}
    for name in order:
        means[name] = {key: mean(v) for key, v in per_task[name].items()}
        for key, value in means[name].items():
            results[f"{key}/{name}"] = value
    domains: dict[str, list[float]] = {}
    for name, values in means.items():
        domains.setdefault(task_info(name).domain, []).append(values["score"])
    for domain, scores in domains.items():
        results[f"score/domain/{domain}"] = float(np.mean(scores))
    for key in ("return", "success", "score"):
        results[key] = mean([v[key] for v in means.values()])
    results["weighted_score"] = float(np.mean([np.mean(s) for s in domains.values()]))
    return results


def record_video(cfg: DictConfig, task: str, task_index: int, num_tasks: int, policy, path: Path) -> Path:
    """One deterministic episode of ``task`` rendered to a GIF at ``path``."""
    import imageio.v2 as imageio
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    from newt.envs import make_env

    env = TransformedEnv(
        make_env(task, obs="rgb", seed=cfg.seed, render_size=cfg.render_size, mmbench_layout=True,
                 task_index=task_index, num_tasks=num_tasks),
        InitTracker(),
    )
    # The video draws no numbers from the run's RNG streams, so runs with and without videos
    # (and resumed runs) follow the same trajectory.
    with torch.random.fork_rng(), torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout = env.rollout(task_info(task).episode_length, policy)
    env.close()
    frames = rollout.get(("next", "pixels")).permute(0, 2, 3, 1).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, list(frames), duration=1 / 30, loop=0)
    return path


# ====================================================================
# Distributed
# --------------------------------------------------------------------


def init_distributed(cfg: DictConfig) -> tuple[int, int]:
    """Join the ``torchrun`` process group (NCCL on CUDA, gloo on CPU); ``(rank, world_size)``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    import torch.distributed as dist

    if cfg.device.startswith("cuda"):
        cfg.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(cfg.device)
    dist.init_process_group("nccl" if cfg.device.startswith("cuda") else "gloo")
    return dist.get_rank(), world_size


def average_across_ranks(tensors) -> None:
    """Replace each tensor by its mean over ranks (one all-reduce for all of them)."""
    import torch.distributed as dist

    tensors = [t for t in tensors if t is not None]
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def average_gradients(params) -> None:
    """Data-parallel gradient averaging (what DDP does), for the updater's ``grad_sync`` hook.

    The loss calls the world model's methods rather than ``forward``, so the model is not
    wrapped in ``DistributedDataParallel``; the gradients are averaged explicitly instead.
    """
    average_across_ranks([p.grad for p in params])


def check_replicas_equal(module: torch.nn.Module) -> None:
    """Raise if the ranks' copies of ``module`` (parameters and buffers) have drifted apart."""
    import torch.distributed as dist

    local = torch.stack([t.detach().double().sum() for t in module.state_dict().values()
                         if torch.is_tensor(t) and t.is_floating_point()])
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    if any(not torch.allclose(g, gathered[0], rtol=1e-6, atol=1e-6) for g in gathered):
        raise RuntimeError("model replicas differ across ranks after training")


def gather_eval(per_task: dict, world_size: int) -> dict:
    """Merge every rank's per-task episode lists."""
    if world_size == 1:
        return per_task
    import torch.distributed as dist

    gathered = [None] * world_size
    dist.all_gather_object(gathered, per_task)
    merged: dict = {}
    for part in gathered:
        for name, values in part.items():
            slot = merged.setdefault(name, {k: [] for k in values})
            for key, v in values.items():
                slot[key].extend(v)
    return merged


# ====================================================================
# Checkpoints, RNG, plots
# --------------------------------------------------------------------


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def save_run(path: Path, cfg, loss, updater, planner, state: RunState, replay=None) -> Path:
    """Write everything needed to resume exactly (atomically); the buffer only if asked.

    The replay buffer is written first, beside the checkpoint, and the checkpoint names it: a
    checkpoint never points at a buffer that was not completely written.
    """
    checkpoint = {
        "newt_recipe": 1,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "loss": loss.state_dict(),
        "updater": updater.state_dict(),
        "planner": planner.state_dict(),
        "state": asdict(state),
        "rng": rng_state(),
        "buffer": None,
    }
    if replay is not None:
        buffer_dir = path.with_suffix(".buffer")
        replay.dumps(buffer_dir)
        checkpoint["buffer"] = buffer_dir.name
    save_checkpoint(checkpoint, path)
    return path


def point_latest(path: Path) -> Path:
    """Make ``latest.pt`` beside ``path`` the same checkpoint, swapped in atomically (a hard
    link, or a copy where the file system has none), without serialising it again."""
    latest, tmp = path.with_name("latest.pt"), path.with_name(".latest.pt.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, latest)
    return latest


def read_run(path) -> dict | None:
    """The contents of a checkpoint written by this recipe, or ``None`` for an official one."""
    checkpoint = load_checkpoint(path, weights_only=False)
    return checkpoint if isinstance(checkpoint, dict) and "newt_recipe" in checkpoint else None


def load_run(checkpoint: dict, path, loss, updater, planner, replay=None) -> tuple[RunState, dict]:
    """Restore a :func:`save_run` checkpoint (read from ``path`` by :func:`read_run`); returns
    the run state and the RNG states, which the caller restores (:func:`set_rng_state`) right
    before training resumes."""
    loss.load_state_dict(checkpoint["loss"])
    updater.load_state_dict(checkpoint["updater"])
    planner.load_state_dict(checkpoint["planner"])
    if replay is not None:
        if checkpoint["buffer"] is None:
            raise FileNotFoundError(
                f"save_buffer=true but {path} was saved without its replay buffer "
                "(resume with save_buffer=false to start from an empty one)"
            )
        replay.loads(Path(path).parent / checkpoint["buffer"])
    return RunState(**checkpoint["state"]), checkpoint["rng"]


def append_csv(path: Path, row: dict) -> None:
    """Append ``row`` to a CSV file, rewriting it when new columns appear."""
    rows = []
    if path.exists():
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    rows.append({k: row[k] for k in row})
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def plot_learning_curves(csv_path: Path, out_dir: Path) -> list[Path]:
    """PNG learning curves from the eval CSV: overall score and return, and per domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    steps = [int(float(r["step"])) for r in rows]
    written = []
    panels = [("score", "score"), ("return", "episode return"), ("success", "success")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, label) in zip(axes, panels):
        ax.plot(steps, [float(r[key]) if r[key] != "" else float("nan") for r in rows], marker="o")
        ax.set_xlabel("env steps")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "learning_curve.png", dpi=100)
    plt.close(fig)
    written.append(out_dir / "learning_curve.png")
    domain_keys = [k for k in rows[-1] if k.startswith("score/domain/")]
    if len(domain_keys) > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in domain_keys:
            ax.plot(steps, [float(r.get(key) or "nan") for r in rows], label=key.rsplit("/", 1)[-1])
        ax.set_xlabel("env steps")
        ax.set_ylabel("score")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / "learning_curve_domains.png", dpi=100)
        plt.close(fig)
        written.append(out_dir / "learning_curve_domains.png")
    return written
