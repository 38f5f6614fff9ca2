import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import ALL_TASKS, make_env, task_info
from newt.envs.ogbench import OGBENCH_TASKS, make_ogbench_env
from newt.envs.ogbench_mazes import LAYOUTS, maze_tasks

OG_TASKS = [t for t in ALL_TASKS if task_info(t).domain == "ogbench"]


def test_specs_rollout_and_fixed_length():
    task = task_info("og-point-maze")
    env = make_ogbench_env(task, seed=0)
    check_env_specs(env)
    td = env.rollout(task.episode_length, break_when_any_done=False)
    assert td["next", "observation"].shape == (task.episode_length, 9)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [task.episode_length - 1]
    assert not td["next", "terminated"].any()
    assert td["next", "score"].equal(td["next", "success"])


def test_task_table_matches_registry():
    assert set(OGBENCH_TASKS) == set(OG_TASKS)


def test_maze_task_lists_and_layouts():
    counts = {m: len(maze_tasks(m)) for m in ("arena", "medium", "bottleneck", "circle", "spiral", "var1", "var2")}
    assert counts == dict(arena=48, medium=10, bottleneck=312, circle=300, spiral=204, var1=300, var2=312)
    for maze, layout in LAYOUTS.items():
        for init, goal in maze_tasks(maze):
            assert layout[init[0]][init[1]] == 0 and layout[goal[0]][goal[1]] == 0
    sim = make_ogbench_env(task_info("og-point-spiral")).base_env.sim
    assert sim.num_tasks == 204
    walls = [sim.model.geom(g).name for g in range(sim.model.ngeom)]
    assert sum(name.startswith("block_") for name in walls) == np.sum(LAYOUTS["spiral"])
    assert (sim.maze_map == np.array(LAYOUTS["spiral"])).all()


@pytest.mark.parametrize("offset, success", [((0.0, 0.0), 1.0), ((0.6, -0.8), 1.0), ((1.2, 0.0), 0.0)])
def test_point_maze_reward_success_and_observation(offset, success):
    env = make_ogbench_env(task_info("og-point-arena"), seed=0)
    td = env.reset()
    sim = env.base_env.sim
    goal = np.asarray(sim.get_oracle_rep())
    sim.set_xy(goal + np.array(offset))
    td = env.step(td.set("action", torch.zeros(2)))["next"]
    xy = goal + np.array(offset)
    d = np.array(offset)
    # A zero action leaves the point in place: no velocity, no penalty.
    l1, l2 = np.abs(d).sum(), np.linalg.norm(d)
    assert td["success"].item() == success and td["score"].item() == success
    assert td["reward"].item() == pytest.approx(success - (0.5 * l1 + 0.5 * l2) / 20, abs=1e-5)
    expected = np.concatenate([xy, [0, 0], goal, d, [l2]]) / 20
    np.testing.assert_allclose(td["observation"].numpy(), expected, atol=1e-5)


def test_og_ant_score_is_clipped_cumulative_reward():
    env = make_ogbench_env(task_info("og-ant"), seed=0)
    td = env.rollout(50)
    assert td["next", "observation"].shape == (50, 29)
    returns = td["next", "reward"].squeeze(-1).double().cumsum(0)
    torch.testing.assert_close(
        td["next", "score"].squeeze(-1), (returns.clamp(0, 250) / 250).float(), atol=1e-6, rtol=0
    )
    assert (td["next", "success"] == 0).all()


def test_antball_goal_range_and_success():
    env = make_ogbench_env(task_info("og-antball"), seed=0)
    sim = env.base_env.sim
    for _ in range(5):
        td = env.reset()
        assert np.abs(sim.cur_goal_xy).max() <= 3
        ball = sim.get_agent_ball_xy()[1]
        np.testing.assert_allclose(td["observation"][-2:].numpy(), sim.cur_goal_xy - ball, atol=1e-5)
    agent, _ = sim.get_agent_ball_xy()
    sim.set_agent_ball_xy(agent, np.asarray(sim.cur_goal_xy))
    td = env.step(td.set("action", torch.zeros(8)))["next"]
    assert td["success"].item() == 1.0 and td["score"].item() == 1.0


def test_seeding_and_global_rng():
    state = np.random.get_state()[1].copy()
    runs = []
    for _ in range(2):
        env = make_ogbench_env(task_info("og-ant-maze"), seed=5)
        td = env.rollout(5, policy=lambda td: td.set("action", torch.full((8,), 0.3)))
        runs.append(td["next", "observation"])
    assert runs[0].equal(runs[1])
    other = make_ogbench_env(task_info("og-ant-maze"), seed=6).reset()["observation"]
    assert not other.equal(runs[0][0])
    assert (np.random.get_state()[1] == state).all()


def test_rgb():
    env = make_ogbench_env(task_info("og-point-circle"), obs="rgb", render_size=64, seed=0)
    check_env_specs(env)
    pixels = env.reset()["pixels"]
    assert pixels.shape == (3, 64, 64) and pixels.dtype == torch.uint8 and pixels.float().std() > 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="obs"):
        make_ogbench_env(task_info("og-point-maze"), obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_ogbench_env(task_info("og-point-maze"), seed="1")
    with pytest.raises(ValueError, match="maze"):
        maze_tasks("labyrinth")



def test_through_make_env():
    env = make_env("og-point-maze", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (9,)
    padded = make_env("og-point-maze", seed=0, mmbench_layout=True)
    td = padded.rollout(2)
    assert td["next", "observation"].shape == (2, 128)
    assert td["action_mask"][0].sum().item() == 2


@pytest.mark.slow
@pytest.mark.parametrize("task", OG_TASKS)
def test_every_task(task):
    info = task_info(task)
    env = make_ogbench_env(info, seed=0)
    check_env_specs(env)
    td = env.rollout(info.episode_length, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [info.episode_length - 1]
    assert not td["next", "terminated"].any()
