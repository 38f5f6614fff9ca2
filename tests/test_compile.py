"""``compile=True`` gives the same plans and the same updates as eager execution.

Inductor draws random numbers with its own generator unless ``fallback_random`` is set; the
tests set it so that compiled and eager runs consume torch's generator identically and can
be compared value by value. Compilation takes about a minute per test on a small CPU.
"""
import copy

import pytest
import torch
from tensordict import TensorDict
from torchrl.envs.utils import ExplorationType, set_exploration_type

from newt.modules.planner import MPPIPlanner
from newt.modules.world_model import NewtWorldModel
from newt.objectives import NewtLoss, NewtUpdater, compile_options

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

SMALL = dict(model_size="S", latent_dim=16, mlp_dim=32, enc_dim=32, num_q=2)


@pytest.fixture(autouse=True)
def _fallback_random():
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True):
        yield
    torch._dynamo.reset()


def _multitask_model():
    torch.manual_seed(0)
    return NewtWorldModel(
        obs_dim=6, action_dim=3, task_embeddings=torch.randn(2, 8), action_dims=[3, 2], **SMALL
    )


def test_compile_options():
    assert compile_options(False) is None and compile_options(None) is None
    assert compile_options(True) == {}
    assert compile_options({"mode": "reduce-overhead"}) == {"mode": "reduce-overhead"}
    with pytest.raises(TypeError, match="compile must be"):
        compile_options("yes")


def test_planner_compiled_equals_eager():
    model = _multitask_model()
    kwargs = dict(num_samples=32, num_elites=4, num_pi_trajs=4, iterations=2)
    eager = MPPIPlanner(model, **kwargs)
    compiled = MPPIPlanner(model, compile=True, **kwargs)
    obs = torch.randn(3, 4, 6)
    task = torch.tensor([[0], [1], [1]])
    actions = {}
    for name, planner in (("eager", eager), ("compiled", compiled)):
        torch.manual_seed(1)
        out = []
        with set_exploration_type(ExplorationType.RANDOM):
            # Three steps: a fresh start, then warm starts, one env restarting at step 2.
            for t, is_init in enumerate(([True] * 3, [False] * 3, [False, True, False])):
                td = TensorDict(
                    {"observation": obs[:, t], "task": task, "is_init": torch.tensor(is_init)[:, None]}, [3]
                )
                out.append(planner(td)["action"])
        actions[name] = torch.stack(out)
    assert compiled._compiled_mppi is not None
    torch.testing.assert_close(actions["compiled"], actions["eager"], atol=1e-5, rtol=1e-5)
    # The task's masked action dim stays exactly zero.
    assert (actions["compiled"][:, 1:, 2] == 0).all()


def test_planner_with_compile_pickles():
    import pickle

    planner = MPPIPlanner(_multitask_model(), num_samples=16, num_elites=2, num_pi_trajs=2, compile=True)
    planner._compiled_mppi = torch.compile(planner._mppi)
    clone = pickle.loads(pickle.dumps(planner))
    assert clone._compiled_mppi is None and clone.compile_options == {}


def test_updater_compiled_equals_eager():
    model = NewtWorldModel(obs_dim=5, action_dim=2, **SMALL)
    loss = NewtLoss(model, discount=0.99)
    twin = copy.deepcopy(loss)
    eager, compiled = NewtUpdater(loss), NewtUpdater(twin, compile=True)
    gen = torch.Generator().manual_seed(2)
    batches = [
        TensorDict(
            {
                "observation": torch.randn(8, 4, 5, generator=gen),
                "action": torch.rand(8, 4, 2, generator=gen) * 2 - 1,
                ("next", "reward"): torch.randn(8, 4, 1, generator=gen),
            },
            batch_size=[8, 4],
        )
        for _ in range(2)
    ]
    for batch in batches:
        torch.manual_seed(3)
        expected = eager(batch)
        torch.manual_seed(3)
        got = compiled(batch)
        for key in expected.keys():
            torch.testing.assert_close(got[key], expected[key], atol=1e-5, rtol=1e-4, msg=key)
    for (name, p), q in zip(loss.named_parameters(), twin.parameters()):
        torch.testing.assert_close(q, p, atol=1e-5, rtol=1e-4, msg=name)
    torch.testing.assert_close(twin.running_scale.value, loss.running_scale.value)
