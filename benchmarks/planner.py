"""Planning latency per env step: newt's MPPIPlanner vs the official Newt planner vs TorchRL's.

Three planners act on the same B-size multitask world model (observation 128, action 16,
512-d task embeddings, 200 tasks) with the official settings (512 samples, 64 elites,
6 iterations, horizon 3, 24 policy sequences; TorchRL's planner has no policy sequences):

* ``newt``: :class:`newt.modules.MPPIPlanner`;
* ``official``: the official ``TDMPC2.plan`` (imported from a checkout given by
  ``NEWT_OFFICIAL_PATH``, the official ``tdmpc2/`` directory; nothing of it is copied here),
  with the same weights loaded into its world model;
* ``torchrl``: ``torchrl.modules.MPPIPlanner`` driving a ``ModelBasedEnvBase`` whose step is
  the same world model's reward and dynamics, valued by ``TDLambdaEstimator(lmbda=1)`` with
  ``V(z) = Q(z, pi(z))`` (TorchRL's way of getting the same return estimate).

Usage::

    git -C /work/.mirror/nicklashansen+newt/repo archive HEAD tdmpc2 | tar -x -C /tmp/official
    NEWT_OFFICIAL_PATH=/tmp/official/tdmpc2 python benchmarks/planner.py --envs 1 32

Without ``NEWT_OFFICIAL_PATH`` the official column is left out. The planners are called in
turn, ``--repeats`` rounds after ``--warmup`` rounds, and each one's median CPU time per call is
reported; on a shared machine the figures are still noisy.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import statistics
import sys
import time

import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule, TensorDictSequential
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs.model_based import ModelBasedEnvBase
from torchrl.envs.utils import ExplorationType, set_exploration_type
from torchrl.modules import MPPIPlanner as TorchRLMPPIPlanner
from torchrl.objectives.value import TDLambdaEstimator

from newt.modules.layers import mlp
from newt.modules.planner import MPPIPlanner
from newt.modules.world_model import NewtWorldModel
from newt.objectives import discount_heuristic

OBS_DIM, ACTION_DIM, TASK_DIM, NUM_TASKS = 128, 16, 512, 200
STEP = 5_000_000  # constrained planning active in both newt and official planners (w = 0.7)


# ------------------------------------------------------------------ the shared world model
def make_world_model(size: str = "B", seed: int = 0) -> NewtWorldModel:
    gen = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(NUM_TASKS, TASK_DIM, generator=gen)
    action_dims = torch.randint(1, 13, (NUM_TASKS,), generator=gen)
    torch.manual_seed(seed)
    model = NewtWorldModel(OBS_DIM, ACTION_DIM, size, task_embeddings=embeddings, action_dims=action_dims)
    with torch.no_grad():  # leave the zero-initialised heads so values are not all equal
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
    return model


def benchmark_discounts() -> torch.Tensor:
    """Per-task discounts from the MMBench episode lengths, cycled over the tasks."""
    lengths = torch.tensor([25, 50, 100, 200, 250, 500, 1000]).repeat(NUM_TASKS // 7 + 1)[:NUM_TASKS]
    return discount_heuristic(lengths)


# ------------------------------------------------------------------ the official agent
class _TorchOnCpu:
    """Stands in for the ``torch`` module inside two official files.

    The official agent and its running scale hard-code ``torch.device(f"cuda:{rank}")``.
    Every attribute is torch's own, except ``device``, which maps CUDA devices to the CPU.
    This is the only change made to the official code, and only inside this process.
    """

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def device(spec, *args):
        if str(spec).startswith("cuda"):
            return torch.device("cpu")
        return torch.device(spec, *args)


class _Config(dict):
    """Attribute access over a dict, enough for the official ``cfg`` object."""

    __getattr__ = dict.__getitem__

    def __setattr__(self, name, value):
        self[name] = value

    def __deepcopy__(self, memo):
        return _Config(copy.deepcopy(dict(self), memo))


def official_config(
    model: NewtWorldModel, num_envs: int, batch_size: int, discounts: torch.Tensor
) -> _Config:
    """The official config fields the agent reads, filled for ``model``'s sizes (compile off)."""
    return _Config(
        task="soup", obs="state", obs_shape={"state": (OBS_DIM,)}, action_dim=ACTION_DIM,
        action_dims=model.action_masks.sum(-1).long().tolist(), task_dim=TASK_DIM,
        task_embeddings=model.task_embeddings.tolist(), episode_length=1000,
        discounts=discounts.tolist(), num_envs=num_envs, batch_size=batch_size, rank=0, world_size=1,
        finetune=False, compile=False, lr=3e-4, enc_lr_scale=0.3, lr_schedule=None, warmup_steps=5000,
        grad_clip_norm=20.0, tau=0.01, rho=0.5, consistency_coef=20.0, reward_coef=0.1, value_coef=0.1,
        prior_coef=10.0, entropy_coef=1e-4, log_std_min=-10.0, log_std_max=2.0, num_bins=101,
        vmin=-10.0, vmax=10.0, bin_size=0.2, enc_dim=model.enc_dim, mlp_dim=model.mlp_dim,
        latent_dim=model.latent_dim, num_enc_layers=model.num_enc_layers, num_q=model.num_q,
        simnorm_dim=model.simnorm_dim, horizon=3, iterations=6, num_samples=512, num_elites=64,
        num_pi_trajs=24, min_std=0.05, max_std=2.0, temperature=0.5, mpc=True,
        constrained_planning=True, constraint_start_step=2_000_000, constraint_final_step=10_000_000,
        discount_denom=5, discount_min=0.95, discount_max=0.995,
    )


def _copy_weights(model: NewtWorldModel, official) -> None:
    """Loads ``model``'s weights into the official world model (same layouts, by order)."""
    pairs = [
        (model._encoder, official._encoder["state"]),
        (model._dynamics, official._dynamics),
        (model._reward, official._reward),
        (model._pi, official._pi),
    ]
    with torch.no_grad():
        for ours, theirs in pairs:
            for mine, other in zip(ours.parameters(), theirs.parameters(), strict=True):
                other.copy_(mine)
        in_features = model.latent_dim + model.task_dim + model.action_dim
        template = mlp(in_features, 2 * [model.mlp_dim], model.num_bins)
        ensembles = (
            (model.q_params, official._Qs.online._Qs),
            (model.target_q_params, official._Qs.target._Qs),
        )
        for source, heads in ensembles:
            for k, head in enumerate(heads):
                with source[k].to_module(template):
                    for mine, other in zip(template.parameters(), head.parameters(), strict=True):
                        other.copy_(mine)


def official_agent(model: NewtWorldModel, num_envs: int, batch_size: int, discounts: torch.Tensor):
    """Builds the official agent from ``$NEWT_OFFICIAL_PATH`` with ``model``'s weights, on CPU."""
    path = os.environ.get("NEWT_OFFICIAL_PATH")
    if not path:
        return None
    if not os.path.isfile(os.path.join(path, "tdmpc2.py")):
        raise FileNotFoundError(f"NEWT_OFFICIAL_PATH={path!r} is not the official tdmpc2/ directory.")
    if path not in sys.path:
        sys.path.insert(0, path)
    import common.scale
    import common.world_model
    import tdmpc2 as official_module

    official_module.torch = _TorchOnCpu()
    common.scale.torch = _TorchOnCpu()
    cfg = official_config(model, num_envs, batch_size, discounts)
    with contextlib.redirect_stdout(io.StringIO()):
        world_model = common.world_model.WorldModel(cfg)
        _copy_weights(model, world_model)
        agent = official_module.TDMPC2(world_model, cfg)
    return agent


# ------------------------------------------------------------------ TorchRL's planner
class _LatentEnv(ModelBasedEnvBase):
    """A ``ModelBasedEnvBase`` stepping the Newt world model in latent space."""

    def __init__(self, model: NewtWorldModel):
        def reward(z, a, task):
            return model.two_hot.decode(model.reward(z, a, task))

        step = TensorDictSequential(
            TensorDictModule(reward, in_keys=["latent", "action", "task"], out_keys=["reward"]),
            TensorDictModule(model.next, in_keys=["latent", "action", "task"], out_keys=["latent"]),
        )
        super().__init__(step)
        self.observation_spec = Composite(
            latent=Unbounded((model.latent_dim,)),
            task=Unbounded((1,), dtype=torch.int64),
        )
        self.state_spec = self.observation_spec.clone()
        self.action_spec = Bounded(-1.0, 1.0, (ACTION_DIM,))
        self.reward_spec = Unbounded((1,))

    def _reset(self, tensordict, **kwargs):
        return tensordict.select("latent", "task").clone()


def torchrl_planner(model: NewtWorldModel, gamma: float = 0.99) -> TensorDictSequential:
    def state_value(z, task):
        action, _ = model.pi(z, task)
        return model.Q(z, action, task, return_type="avg")

    value_network = TensorDictModule(state_value, in_keys=["latent", "task"], out_keys=["state_value"])
    advantage = TDLambdaEstimator(gamma=gamma, lmbda=1.0, value_network=value_network)
    # The estimator vmaps the value network, which samples (policy noise, the two Q heads).
    advantage.set_vmap_randomness("different")
    planner = TorchRLMPPIPlanner(
        _LatentEnv(model), advantage, temperature=0.5, planning_horizon=3, optim_steps=6,
        num_candidates=512, top_k=64,
    )
    encoder = TensorDictModule(model.encode, in_keys=["observation", "task"], out_keys=["latent"])
    return TensorDictSequential(encoder, planner)


# ------------------------------------------------------------------ timing
def interleaved_times(candidates: dict, repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median CPU time of each callable over ``repeats`` rounds, one call of each per round.

    Interleaving exposes every candidate to the same background load; CPU time (this process,
    all threads) counts only the work done, not the time spent waiting for a core another job
    holds, and the median discards the rounds disturbed the most.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--size", default="B")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-torchrl", action="store_true")
    parser.add_argument("--compile", action="store_true",
                        help="also time MPPIPlanner(compile=True) (compiled during the warm-up)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = make_world_model(args.size)
    discounts = benchmark_discounts()
    print(f"model size {args.size}, {args.threads} thread(s), seconds per env step "
          f"(median CPU time of {args.repeats} interleaved calls)")
    print(f"{'envs':>5} {'newt':>9} {'official':>9} {'torchrl':>9} {'newt/official':>14} {'torchrl/newt':>13}"
          + (f" {'compiled':>9} {'compiled/newt':>14}" if args.compile else ""))
    for num_envs in args.envs:
        gen = torch.Generator().manual_seed(num_envs)
        obs = torch.randn(num_envs, OBS_DIM, generator=gen)
        task = torch.randint(0, NUM_TASKS, (num_envs,), generator=gen)
        td = TensorDict(
            observation=obs, task=task.unsqueeze(-1),
            is_init=torch.zeros(num_envs, 1, dtype=torch.bool), batch_size=[num_envs],
        )
        planner = MPPIPlanner(model, discount=discounts)
        planner.set_step(STEP)

        def run_newt():
            with set_exploration_type(ExplorationType.RANDOM):
                planner(td.clone())

        candidates = {"newt": run_newt}
        if args.compile:
            compiled = MPPIPlanner(model, discount=discounts, compile=True)
            compiled.set_step(STEP)

            def run_compiled():
                with set_exploration_type(ExplorationType.RANDOM):
                    compiled(td.clone())

            candidates["compiled"] = run_compiled
        agent = official_agent(model, num_envs, 256, discounts)
        if agent is not None:
            t0 = torch.zeros(num_envs, dtype=torch.bool)
            candidates["official"] = lambda: agent(obs, t0=t0, step=STEP, eval_mode=False, task=task)
        if not args.skip_torchrl:
            baseline = torchrl_planner(model)
            candidates["torchrl"] = lambda: baseline(td.clone())
        times = interleaved_times(candidates, args.repeats, args.warmup)
        newt = times["newt"]
        official = times.get("official", float("nan"))
        torchrl = times.get("torchrl", float("nan"))
        line = (
            f"{num_envs:>5} {newt:>9.4f} {official:>9.4f} {torchrl:>9.4f} "
            f"{newt / official:>14.2f} {torchrl / newt:>13.1f}"
        )
        if args.compile:
            line += f" {times['compiled']:>9.4f} {times['compiled'] / newt:>14.2f}"
        print(line)


if __name__ == "__main__":
    with torch.no_grad():
        main()
