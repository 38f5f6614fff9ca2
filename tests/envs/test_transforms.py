"""MMBench layout transforms on a tiny recording env and on a DMControl env."""
import pytest
import torch
from tensordict import TensorDict
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import Compose, EnvBase, SerialEnv, TransformedEnv
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env
from newt.envs.transforms import (
    ConstantEntry,
    MMBenchLayoutEnv,
    PadAction,
    PadObservation,
    TaskEmbedding,
    TaskIndex,
    mmbench_layout,
)


class RecordingEnv(EnvBase):
    """obs = [t, t, t]; remembers the last action it received; 5-step episodes."""

    def __init__(self, obs_dim=3, action_dim=2, low=-1.0):
        super().__init__()
        self.observation_spec = Composite(observation=Unbounded((obs_dim,)))
        self.action_spec = Bounded(low, 1.0, (action_dim,))
        self.reward_spec = Unbounded((1,))
        flag = Categorical(2, (1,), dtype=torch.bool)
        self.done_spec = Composite(done=flag, terminated=flag.clone(), truncated=flag.clone())
        self.obs_dim, self.t, self.last_action = obs_dim, 0, None

    def _obs(self):
        return torch.full((self.obs_dim,), float(self.t))

    def _reset(self, td=None, **kwargs):
        self.t = 0
        false = torch.zeros(1, dtype=torch.bool)
        return TensorDict(observation=self._obs(), done=false, terminated=false, truncated=false)

    def _step(self, td):
        self.t += 1
        self.last_action = td["action"].clone()
        done = torch.tensor([self.t >= 5])
        return TensorDict(
            observation=self._obs(),
            reward=torch.ones(1),
            done=done,
            terminated=torch.zeros(1, dtype=torch.bool),
            truncated=done,
        )

    def _set_seed(self, seed):
        pass


def layout_env(**kwargs):
    return TransformedEnv(RecordingEnv(**kwargs), mmbench_layout(2, num_tasks=5))


def test_layout_specs_and_values():
    env = layout_env()
    check_env_specs(env)
    assert env.action_spec.shape == (16,)
    assert env.observation_spec["observation"].shape == (128,)
    td = env.reset()
    assert td["observation"].tolist() == [0.0] * 128
    assert td["action_mask"].tolist() == [True, True] + [False] * 14
    assert td["task"].dtype == torch.int64 and td["task"].tolist() == [2]
    td["action"] = torch.arange(16, dtype=torch.float32) / 16
    td = env.step(td)
    # the env saw the first 2 entries; the agent's padded action is left untouched
    assert env.base_env.last_action.tolist() == [0.0, 1 / 16]
    assert td["action"].shape == (16,)
    assert td["next", "observation"][:3].tolist() == [1.0, 1.0, 1.0]
    assert td["next", "observation"][3:].abs().sum() == 0
    assert td["next", "task"].tolist() == [2] and td["next", "action_mask"].sum() == 2


def test_padded_action_bounds_keep_the_true_ones():
    env = TransformedEnv(RecordingEnv(low=0.0), PadAction(4))
    assert env.action_spec.space.low.tolist() == [0.0, 0.0, -1.0, -1.0]
    assert env.action_spec.space.high.tolist() == [1.0] * 4


def test_rollout_is_dense_for_different_widths():
    env = SerialEnv(
        2,
        [
            lambda: TransformedEnv(RecordingEnv(3, 2), mmbench_layout(0, num_tasks=2)),
            lambda: TransformedEnv(RecordingEnv(7, 5), mmbench_layout(1, num_tasks=2)),
        ],
    )
    check_env_specs(env)
    td = env.rollout(3)
    assert td["observation"].shape == (2, 3, 128)
    assert td["action_mask"].sum(-1)[:, 0].tolist() == [2, 5]
    assert td["task"][:, 0, 0].tolist() == [0, 1]


@pytest.mark.parametrize(
    "action, match",
    [(torch.zeros(15), "width 16"), (torch.full((16,), float("nan")), "NaN")],
)
def test_bad_actions_raise(action, match):
    env = layout_env()
    td = env.reset()
    td["action"] = action
    with pytest.raises(ValueError, match=match):
        env.step(td)


def test_too_wide_env_is_rejected():
    with pytest.raises(ValueError, match="max_dim=4"):
        TransformedEnv(RecordingEnv(obs_dim=5), PadObservation(4)).observation_spec
    with pytest.raises(ValueError, match="max_dim=1"):
        TransformedEnv(RecordingEnv(action_dim=2), PadAction(1)).action_spec


def test_task_index_and_embedding():
    with pytest.raises(ValueError, match="outside"):
        TaskIndex(3, num_tasks=3)
    with pytest.raises(ValueError, match="1-d"):
        TaskEmbedding(torch.zeros(2, 3))
    embedding = torch.linspace(0, 1, 8)
    env = TransformedEnv(
        RecordingEnv(), Compose(TaskIndex(1, num_tasks=2), TaskEmbedding(embedding))
    )
    check_env_specs(env)
    td = env.rollout(2)
    assert torch.equal(td["next", "task_embedding"][1], embedding)
    assert env.observation_spec["task"].space.n == 2


def test_constant_entry_is_a_fresh_copy_each_step():
    env = TransformedEnv(RecordingEnv(), ConstantEntry("goal", torch.ones(2)))
    td = env.reset()
    td["goal"].zero_()
    assert env.rand_step(td)["next", "goal"].tolist() == [1.0, 1.0]


def test_transforms_on_a_dmcontrol_env():
    env = TransformedEnv(make_env("cup-catch", seed=0), mmbench_layout(0, num_tasks=1))
    check_env_specs(env)
    td = env.rollout(2)
    assert td["observation"][:, 8:].abs().sum() == 0
    assert td["action_mask"][0].sum() == 2


@pytest.mark.parametrize("base", ["recording", "dmcontrol"])
def test_lean_layout_env_equals_the_transformed_env(base):
    def native():
        return RecordingEnv(3, 2) if base == "recording" else make_env("hopper-hop", seed=1)

    embedding = torch.arange(4.0)
    lean = MMBenchLayoutEnv(native(), task_index=1, num_tasks=3, task_embedding=embedding)
    reference = TransformedEnv(native(), mmbench_layout(1, 3, embedding))
    assert lean.output_spec == reference.output_spec
    assert lean.input_spec == reference.input_spec
    actions = torch.rand(6, 16) * 2 - 1
    tds = []
    for env in (lean, reference):
        td = env.reset()
        steps = []
        for action in actions:
            stepped, td = env.step_and_maybe_reset(td.set("action", action))
            steps.append(stepped.clone())
        tds.append(torch.stack(steps))
    keys = set(tds[0].keys(True, True))
    assert keys == set(tds[1].keys(True, True))
    for key in keys:  # success is NaN for DMControl, so compare with equal_nan
        torch.testing.assert_close(tds[0][key], tds[1][key], rtol=0, atol=0, equal_nan=True)
    check_env_specs(lean)


def test_lean_layout_env_writes_fresh_constant_entries():
    env = MMBenchLayoutEnv(RecordingEnv(), task_index=1, num_tasks=3, task_embedding=torch.ones(2))
    td = env.reset()
    for key in ("action_mask", "task", "task_embedding"):
        td[key].zero_()
    stepped = env.rand_step(td)["next"]
    assert stepped["action_mask"][:2].all() and stepped["task"].item() == 1
    assert stepped["task_embedding"].tolist() == [1.0, 1.0]


def test_pad_observation_missing_key():
    pad = PadObservation(4)
    with pytest.raises(KeyError, match="observation"):
        pad._call(TensorDict())
    pad.set_missing_tolerance(True)
    assert "observation" not in pad._call(TensorDict()).keys()
