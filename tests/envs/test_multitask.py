"""MultiTaskEnv: the in-process batched env of make_multitask_env.

Reference: the stack make_multitask_env built before MultiTaskEnv, a SerialEnv of one
MMBenchLayoutEnv per task. Same seeds and actions must give the same rollouts, key by key.
"""
import functools

import pytest
import torch
from torchrl.envs import SerialEnv, StepCounter, TransformedEnv
from torchrl.envs.utils import check_env_specs

from newt.envs import ALL_TASKS, instruction_embeddings, make_env, make_multitask_env
from newt.envs.dmcontrol import DMControlTaskEnv, load_suite_task
from newt.envs.multitask import MultiTaskEnv
from newt.envs.transforms import MMBenchLayoutEnv

# dm_control, gymnasium MuJoCo, Box2D and MiniArcade: all stepped through their RawStep hooks
MIXED_TASKS = [
    "cartpole-swingup",
    "walker-walk",
    "reacher-easy",
    "mujoco-reacher",
    "lunarlander-land",
    "pygame-pong",
]


def serial_reference(tasks, seed=0, **kwargs):
    distinct = list(dict.fromkeys(tasks))
    env_fns = [
        functools.partial(
            make_env,
            name,
            seed=seed + i,
            mmbench_layout=True,
            task_index=distinct.index(name),
            num_tasks=len(distinct),
            **kwargs,
        )
        for i, name in enumerate(tasks)
    ]
    return SerialEnv(len(tasks), env_fns)


def replay(actions):
    """A policy that plays ``actions[t]`` at its t-th call."""
    steps = iter(actions)

    def policy(td):
        return td.set("action", next(steps))

    return policy


def assert_same_rollout(new, old):
    assert set(new.keys(True, True)) == set(old.keys(True, True))
    for key in old.keys(True, True):
        torch.testing.assert_close(new[key], old[key], rtol=0, atol=0, equal_nan=True, msg=str(key))


def test_rollouts_equal_the_serial_env_of_layout_envs():
    # 60 steps: mujoco-reacher's 50-step episode ends and restarts inside the rollout
    actions = torch.rand(60, len(MIXED_TASKS), 16, generator=torch.Generator().manual_seed(0))
    actions = actions * 2 - 1
    new = make_multitask_env(MIXED_TASKS, seed=3, task_embeddings=True)
    old = serial_reference(MIXED_TASKS, seed=3, task_embedding=True)
    assert isinstance(new, MultiTaskEnv)
    assert new.full_observation_spec == old.full_observation_spec
    assert new.full_action_spec == old.full_action_spec
    assert new.full_done_spec == old.full_done_spec
    assert new.full_reward_spec == old.full_reward_spec
    rollouts = [
        env.rollout(60, replay(actions), break_when_any_done=False) for env in (new, old)
    ]
    assert rollouts[0]["next", "done"][3, :, 0].nonzero().view(-1).tolist() == [49]
    assert_same_rollout(*rollouts)
    # set_seed reseeds sub-env after sub-env, as SerialEnv does
    assert new.set_seed(11) == old.set_seed(11)
    assert_same_rollout(new.reset(), old.reset())


def test_sub_envs_without_raw_hooks_step_through_their_step():
    # A TransformedEnv does not expose its base env's RawStep hooks: MultiTaskEnv feeds it
    # tensordicts instead, with the same results.
    tasks = ["cartpole-swingup", "pygame-pong"]
    hooked = MultiTaskEnv([make_env(t, seed=i) for i, t in enumerate(tasks)], task_indices=[0, 1], num_tasks=2)
    wrapped = MultiTaskEnv(
        [TransformedEnv(make_env(t, seed=i), StepCounter()) for i, t in enumerate(tasks)],
        task_indices=[0, 1],
        num_tasks=2,
    )
    assert hooked._raw == [True, True] and wrapped._raw == [False, False]
    actions = torch.rand(20, len(tasks), 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    rollouts = [env.rollout(20, replay(actions)) for env in (hooked, wrapped)]
    assert_same_rollout(*rollouts)


def test_check_env_specs_and_layout():
    env = make_multitask_env(MIXED_TASKS, seed=0)
    check_env_specs(env)
    td = env.reset()
    assert td["task"].view(-1).tolist() == list(range(len(MIXED_TASKS)))
    assert td["action_mask"].sum(-1).tolist() == [1, 6, 2, 2, 2, 1]
    assert td["observation"][0, 5:].abs().sum() == 0  # cartpole: 5 entries, then zeros


def test_rgb_pixels_equal_the_serial_env():
    # (gymnasium MuJoCo is left out: its EGL frames depend on the other GL contexts of the
    # process, so even two SerialEnv references disagree)
    tasks = ["cartpole-swingup", "lunarlander-land", "pygame-pong"]
    actions = torch.zeros(3, len(tasks), 16)
    new = make_multitask_env(tasks, obs="rgb", render_size=32)
    old = serial_reference(tasks, obs="rgb", render_size=32)
    rollouts = [env.rollout(3, replay(actions)) for env in (new, old)]
    assert rollouts[0]["pixels"].shape == (3, 3, 3, 32, 32)
    assert rollouts[0]["pixels"].float().std() > 0
    assert_same_rollout(*rollouts)
    check_env_specs(new)


def test_tasks_with_different_episode_lengths_reset_on_their_own():
    # a 50-step and a 500-step task
    env = make_multitask_env(["mujoco-reacher", "cartpole-swingup"], seed=0)
    td = env.rollout(120, break_when_any_done=False)
    done = td["next", "done"][..., 0]
    assert done[0].nonzero().view(-1).tolist() == [49, 99]
    assert not done[1].any()
    # the first step of a new reacher episode scores its one reward: 1 + clip(R, -50, 0) / 50
    reward = td["next", "reward"][0, 50, 0].item()
    assert td["next", "score"][0, 50, 0].item() == pytest.approx(1 + reward / 50, abs=1e-6)


def short_episode_envs():
    # a lean env (RawStep hooks) with 3-step episodes and a StepCounter-wrapped env (stepped
    # through its _step, carrying step_count) with 5-step episodes
    native = DMControlTaskEnv(load_suite_task("cartpole-swingup", seed=0), max_steps=3)
    counted = TransformedEnv(
        DMControlTaskEnv(load_suite_task("pendulum-swingup", seed=1), max_steps=1000),
        StepCounter(max_steps=5),
    )
    return MultiTaskEnv([native, counted], task_indices=[0, 1], num_tasks=2)


def test_partial_resets_with_different_episode_lengths():
    env = short_episode_envs()
    check_env_specs(env)
    td = env.rollout(12, break_when_any_done=False)
    done = td["next", "done"][..., 0]
    assert done[0].nonzero().view(-1).tolist() == [2, 5, 8, 11]
    assert done[1].nonzero().view(-1).tolist() == [4, 9]
    assert td["next", "truncated"].equal(td["next", "done"]) and not td["next", "terminated"].any()
    # the step after an episode end starts a new episode: score = that one step's reward / 1000
    for env_index, step in ((0, 3), (1, 5)):
        score = td["next", "score"][env_index, step, 0] * 1000
        reward = td["next", "reward"][env_index, step, 0].item()
        assert score.item() == pytest.approx(reward, rel=1e-4)
    assert "step_count" not in td.keys()


def test_rollout_until_all_done_steps_only_running_envs():
    def layout_env(name, max_steps, index):
        native = DMControlTaskEnv(load_suite_task(name, seed=index), max_steps=max_steps)
        return MMBenchLayoutEnv(native, task_index=index, num_tasks=2)

    specs = [("cartpole-swingup", 3), ("pendulum-swingup", 5)]
    old = SerialEnv(2, [functools.partial(layout_env, n, m, i) for i, (n, m) in enumerate(specs)])
    natives = [
        DMControlTaskEnv(load_suite_task(n, seed=i), max_steps=m) for i, (n, m) in enumerate(specs)
    ]
    new = MultiTaskEnv(natives, task_indices=[0, 1], num_tasks=2)
    actions = torch.rand(5, 2, 16, generator=torch.Generator().manual_seed(1))
    rollouts = [
        env.rollout(5, replay(actions), break_when_any_done=False, break_when_all_done=True)
        for env in (new, old)
    ]
    assert rollouts[0]["next", "done"][:, -1].all()
    assert_same_rollout(*rollouts)
    assert natives[0]._episode[0] == 3  # the finished episode was not stepped further


def test_reset_mask_resets_only_the_selected_envs():
    env = make_multitask_env(["cartpole-swingup", "reacher-easy", "pygame-pong"], seed=0)
    td = env.rand_step(env.reset())
    for mask in ([False, True, False], [True, False, True]):
        start = td["next"].clone()
        reset = env.reset(start.clone().set("_reset", torch.tensor(mask)[:, None]))
        same = (reset["observation"] == start["observation"]).all(-1).tolist()
        assert same == [not m for m in mask]
        assert not reset["done"].any()


def test_task_indices():
    tasks = ["reacher-easy", "cup-catch", "reacher-easy"]
    env = make_multitask_env(tasks, task_indices=[17, 4, 17], task_embeddings=True)
    td = env.reset()
    assert td["task"].view(-1).tolist() == [17, 4, 17]
    assert env.observation_spec["task"].space.n == len(ALL_TASKS)
    assert torch.equal(td["task_embedding"], instruction_embeddings(tasks))
    check_env_specs(env)
    # a table of embeddings: row task_indices[i] goes to sub-env i
    table = torch.arange(20 * 3, dtype=torch.float32).view(20, 3)
    env = make_multitask_env(tasks, task_indices=[17, 4, 17], task_embeddings=table)
    assert torch.equal(env.reset()["task_embedding"], table[[17, 4, 17]])
    # default: position among the distinct tasks
    assert make_multitask_env(tasks).reset()["task"].view(-1).tolist() == [0, 1, 0]


def test_bad_task_indices():
    with pytest.raises(ValueError, match="one entry per task"):
        make_multitask_env(["cup-catch", "finger-spin"], task_indices=[0])
    with pytest.raises(ValueError, match=r"\[0, 234\)"):
        make_multitask_env(["cup-catch"], task_indices=[234])
    with pytest.raises(TypeError, match="task_indices must be ints"):
        make_multitask_env(["cup-catch"], task_indices=[1.0])
    with pytest.raises(ValueError, match=r"\[>= 6, D\]"):
        make_multitask_env(["cup-catch"], task_indices=[5], task_embeddings=torch.zeros(5, 8))


def test_bad_actions():
    env = make_multitask_env(["cartpole-swingup", "pygame-pong"], seed=0)
    td = env.reset()
    with pytest.raises(ValueError, match="NaN"):
        env.step(td.clone().set("action", torch.full((2, 16), float("nan"))))
    bad = MultiTaskEnv([make_env("cup-catch")], task_indices=[0], num_tasks=1)
    bad.reset()
    with pytest.raises(ValueError, match=r"shape \(1, 16\)"):
        bad._step(td[:1].clone().set("action", torch.zeros(1, 6)))


def test_bad_sub_envs():
    cup = make_env("cup-catch")
    with pytest.raises(ValueError, match="at least one env"):
        MultiTaskEnv([], task_indices=[], num_tasks=1)
    with pytest.raises(ValueError, match="one task index per env"):
        MultiTaskEnv([cup], task_indices=[0, 1], num_tasks=2)
    with pytest.raises(ValueError, match=r"outside \[0, num_tasks=2\)"):
        MultiTaskEnv([cup], task_indices=[2], num_tasks=2)
    with pytest.raises(ValueError, match="batch size"):
        MultiTaskEnv([SerialEnv(2, [lambda: make_env("cup-catch")] * 2)], [0], 1)
    with pytest.raises(ValueError, match="at most 8 and 16"):
        MultiTaskEnv([make_env("walker-walk")], [0], 1, max_obs_dim=8)
    with pytest.raises(ValueError, match="pixels of one shape or none"):
        MultiTaskEnv([cup, make_env("cup-catch", obs="rgb", render_size=8)], [0, 0], 1)
