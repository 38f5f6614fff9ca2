"""Tests of the MPPI planner (tiny model, small planner settings, CPU)."""
import pytest
import torch
from tensordict import TensorDict
from torchrl.collectors import Collector
from torchrl.envs import GymEnv, InitTracker, TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from newt.modules.planner import MPPIPlanner
from newt.modules.world_model import NewtWorldModel

SMALL = dict(num_samples=32, num_elites=8, num_pi_trajs=4, iterations=2)
OBS, ACT = 5, 4


def _multitask_model():
    torch.manual_seed(0)
    model = NewtWorldModel(
        OBS, ACT, "S", task_embeddings=torch.randn(3, 6), action_dims=[2, 4, 1],
        latent_dim=16, mlp_dim=32, enc_dim=32,
    )
    with torch.no_grad():  # non-trivial rewards and values
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    return model


def _td(num_envs=3, is_init=True, seed=1):
    g = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "observation": torch.randn(num_envs, OBS, generator=g),
            "task": (torch.arange(num_envs) % 3).unsqueeze(-1),
            "is_init": torch.full((num_envs, 1), is_init),
        },
        batch_size=[num_envs],
    )


@pytest.mark.parametrize("exploration", [ExplorationType.RANDOM, ExplorationType.DETERMINISTIC])
@pytest.mark.parametrize("mpc", [True, False])
def test_shape_range_and_masks(exploration, mpc):
    planner = MPPIPlanner(_multitask_model(), discount=[0.9, 0.95, 0.99], mpc=mpc, **SMALL)
    with set_exploration_type(exploration):
        action = planner(_td(6))["action"]
    assert action.shape == (6, ACT)
    assert action.abs().max() <= 1
    mask = torch.tensor([2, 4, 1])[torch.arange(6) % 3][:, None] > torch.arange(ACT)
    assert (action[~mask] == 0).all()  # exactly zero on padded dims
    assert (action[mask] != 0).all()


def test_defaults_are_official():
    planner = MPPIPlanner(_multitask_model())
    assert (planner.horizon, planner.num_samples, planner.num_elites, planner.num_pi_trajs) == (3, 512, 64, 24)
    assert (planner.iterations, planner.min_std, planner.max_std, planner.temperature) == (6, 0.05, 2.0, 0.5)
    assert planner.in_keys == ["observation", "is_init", "task"] and planner.out_keys == ["action"]


def test_deterministic_with_fixed_seed():
    planner = MPPIPlanner(_multitask_model(), **SMALL)

    def plan(exploration):
        planner.reset()
        torch.manual_seed(42)
        with set_exploration_type(exploration):
            return planner(_td())["action"]

    torch.testing.assert_close(plan(ExplorationType.DETERMINISTIC), plan(ExplorationType.DETERMINISTIC))
    torch.testing.assert_close(plan(ExplorationType.RANDOM), plan(ExplorationType.RANDOM))
    # Outside any exploration context the planner adds no noise, like DETERMINISTIC.
    planner.reset()
    torch.manual_seed(42)
    torch.testing.assert_close(planner(_td())["action"], plan(ExplorationType.DETERMINISTIC))


def test_mpc_false_returns_policy_mean():
    model = _multitask_model()
    planner = MPPIPlanner(model, mpc=False, **SMALL)
    td = _td()
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        action = planner(td)["action"]
    task = td["task"].squeeze(-1)
    _, info = model.pi(model.encode(td["observation"], task), task)
    torch.testing.assert_close(action, info["mean"])


def test_warm_start_resets_on_is_init():
    # Without the policy blend the warm start is the only state carried between calls.
    planner = MPPIPlanner(_multitask_model(), constrained_planning=False, **SMALL)

    def plan(td):
        torch.manual_seed(5)
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            return planner(td)["action"]

    def leave_state():
        plan(_td(is_init=True, seed=9))  # leaves a non-zero plan mean behind

    planner.reset()
    fresh = plan(_td(is_init=True))
    leave_state()
    torch.testing.assert_close(plan(_td(is_init=True)), fresh)  # is_init: the state is ignored
    leave_state()
    continued = plan(_td(is_init=False))  # warm start from the previous plan
    assert not torch.allclose(continued, fresh)
    leave_state()
    partial_td = _td(is_init=False)
    partial_td["is_init"][0] = True  # env 0 restarts, the others continue
    partial = plan(partial_td)
    torch.testing.assert_close(partial[0], fresh[0])
    torch.testing.assert_close(partial[1:], continued[1:])
    # A new batch size re-allocates the state.
    assert plan(_td(num_envs=7, is_init=False)).shape == (7, ACT)


def test_constraint_weight_schedule():
    planner = MPPIPlanner(_multitask_model(), **SMALL)
    expected = {0: 1.0, 2_000_000: 1.0, 7_000_000: 0.5, 12_000_000: 0.0, 50_000_000: 0.0}
    for step, weight in expected.items():
        planner.set_step(step)
        assert planner.constraint_weight().item() == pytest.approx(weight)
    assert "step" in planner.state_dict()
    planner.constrained_planning = False
    assert planner.constraint_weight().item() == 0.0
    with pytest.raises(ValueError, match="step must be >= 0"):
        planner.set_step(-1)


def test_bad_arguments():
    model = _multitask_model()
    with pytest.raises(ValueError, match="num_pi_trajs"):
        MPPIPlanner(model, num_samples=8, num_pi_trajs=8)
    with pytest.raises(ValueError, match="num_elites"):
        MPPIPlanner(model, num_samples=8, num_pi_trajs=2, num_elites=9)
    with pytest.raises(ValueError, match="min_std"):
        MPPIPlanner(model, min_std=3.0)
    with pytest.raises(ValueError, match="discounts must be in"):
        MPPIPlanner(model, discount=[0.9, 0.0])
    planner = MPPIPlanner(model, **SMALL)
    with pytest.raises(KeyError, match="'task'"):
        planner(_td().exclude("task"))
    with pytest.raises(KeyError, match="InitTracker"):
        planner(_td().exclude("is_init"))


# Inside TorchRL: env.rollout and a collector on a real gymnasium env ---------------------
def _pendulum():
    return TransformedEnv(GymEnv("Pendulum-v1"), InitTracker())


def _pendulum_planner():
    torch.manual_seed(0)
    model = NewtWorldModel(3, 1, "S", latent_dim=16, mlp_dim=32, enc_dim=32)
    return MPPIPlanner(model, **SMALL)


def test_env_rollout():
    env = _pendulum()
    env.set_seed(0)
    planner = _pendulum_planner()
    with set_exploration_type(ExplorationType.RANDOM):
        rollout = env.rollout(6, planner)
    assert rollout["action"].shape == (6, 1)
    assert rollout["action"].abs().max() <= 1
    assert rollout["is_init"][0].all() and not rollout["is_init"][1:].any()
    env.close()


def test_collector():
    planner = _pendulum_planner()
    collector = Collector(_pendulum, planner, frames_per_batch=8, total_frames=16, max_frames_per_traj=5)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2
    for batch in batches:
        assert batch["action"].shape == (8, 1)
        assert batch["action"].abs().max() <= 1
    # Episodes of 5 steps: the planner saw the resets through is_init.
    assert batches[0]["is_init"].squeeze(-1)[[0, 5]].all()
