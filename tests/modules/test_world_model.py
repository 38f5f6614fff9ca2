"""NewtWorldModel: shapes, task conditioning, masks, policy, Q ensemble, TorchRL integration."""

import itertools
import math

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictParams
from torchrl.objectives import LossModule, SoftUpdate

from newt.modules import MODEL_SIZES, NewtWorldModel

OBS, ACT, TASK_DIM = 20, 16, 12
ACTION_DIMS = [2, 16, 5]
SMALL = dict(latent_dim=32, mlp_dim=48, enc_dim=40, num_enc_layers=3, num_q=4)


def multitask_model(**kwargs):
    torch.manual_seed(0)
    embeddings = torch.randn(len(ACTION_DIMS), TASK_DIM)
    return NewtWorldModel(
        OBS, ACT, "S", task_embeddings=embeddings, action_dims=ACTION_DIMS, **{**SMALL, **kwargs}
    )


def single_task_model(**kwargs):
    torch.manual_seed(0)
    return NewtWorldModel(OBS, 6, "S", **{**SMALL, **kwargs})


def randomise(model):
    """Non-zero reward and Q heads, so outputs differ between heads."""
    with torch.no_grad():
        for tensor in model.q_params.values(True, True):
            tensor.normal_(0, 0.2)
        model._Qs.target_params.data.update_(model.q_params.data)
        for p in model._reward.parameters():
            p.normal_(0, 0.2)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off costs on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- sizes
def _linear(n_in, n_out):
    return n_in * n_out + n_out


def _official_mlp(n_in, hidden, n_out, simnorm_head):
    """Learnable parameters of an official TD-MPC2 mlp(): NormedLinear hidden layers (Linear +
    LayerNorm), last layer a Linear (+ LayerNorm when it carries SimNorm)."""
    dims = [n_in, *hidden]
    count = sum(_linear(a, b) + 2 * b for a, b in zip(dims[:-1], dims[1:]))
    return count + _linear(hidden[-1], n_out) + (2 * n_out if simnorm_head else 0)


def _official_world_model(
    obs, task, act, enc_dim, mlp_dim, latent_dim, num_enc_layers, num_q, bins=101
):
    encoder = _official_mlp(obs + task, max(num_enc_layers - 1, 1) * [enc_dim], latent_dim, True)
    dynamics = _official_mlp(latent_dim + act + task, [mlp_dim] * 2, latent_dim, True)
    reward = _official_mlp(latent_dim + act + task, [mlp_dim] * 2, bins, False)
    policy = _official_mlp(latent_dim + task, [mlp_dim] * 2, 2 * act, False)
    q = num_q * _official_mlp(latent_dim + act + task, [mlp_dim] * 2, bins, False)
    return encoder + dynamics + reward + policy + q


# Official MODEL_SIZE (tdmpc2/common/__init__.py) and the figures of paper.md §3.2.
OFFICIAL_SIZES = {
    "S": (dict(enc_dim=128, mlp_dim=256, latent_dim=384, num_enc_layers=2, num_q=3), 2.14),
    "B": (dict(enc_dim=256, mlp_dim=512, latent_dim=512, num_enc_layers=2, num_q=5), 7.26),
    "L": (dict(enc_dim=1024, mlp_dim=1024, latent_dim=512, num_enc_layers=3, num_q=5), 20.36),
    "XL": (dict(enc_dim=2048, mlp_dim=2048, latent_dim=704, num_enc_layers=4, num_q=7), 81.59),
}


def _learnable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("size", list(OFFICIAL_SIZES))
def test_parameter_count_matches_official(size):
    dims, millions = OFFICIAL_SIZES[size]
    assert MODEL_SIZES[size] == dims
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = NewtWorldModel(128, 16, size, task_embeddings=torch.zeros(200, 512))
    expected = _official_world_model(128, 512, 16, **dims)
    assert _learnable(model) == expected
    assert round(expected / 1e6, 2) == millions
    # The frozen embedding table and the target heads are not learnable.
    assert not model.task_embeddings.requires_grad
    assert all(not t.requires_grad for t in model.target_q_params.values(True, True))


@pytest.mark.parametrize("obs_dim, action_dim", [(128, 16), (24, 6)])
def test_parameter_count_single_task_b(obs_dim, action_dim):
    with torch.device("meta"):
        model = NewtWorldModel(obs_dim, action_dim, "B")
    expected = _official_world_model(obs_dim, 0, action_dim, **OFFICIAL_SIZES["B"][0])
    assert _learnable(model) == expected
    # paper.md's single-task B figure (~4.96M) is that of a walker-sized task (obs 24, act 6).
    assert round(expected / 1e6, 2) == {(128, 16): 5.03, (24, 6): 4.96}[obs_dim, action_dim]


def test_overrides_and_feature_dim_change_widths():
    with torch.device("meta"):
        model = NewtWorldModel(
            128, 16, "L", task_embeddings=torch.zeros(2, 384), feature_dim=768, num_q=3
        )
    assert model._encoder[0][0].in_features == 128 + 384 + 768
    assert model.num_q == 3 and model.q_params.batch_size == (3,)
    assert model.task_dim == 384


# ----------------------------------------------------------------------------- shapes
def test_multitask_shapes_and_task_broadcasting():
    model = multitask_model()
    task = torch.tensor([0, 2, 1])
    z = model.encode(torch.randn(3, OBS), task)
    assert z.shape == (3, 32)
    a = torch.rand(3, ACT) * 2 - 1
    assert model.next(z, a, task).shape == (3, 32)
    assert model.reward(z, a, task).shape == (3, 101)
    action, info = model.pi(z, task)
    assert action.shape == info["mean"].shape == info["log_std"].shape == (3, ACT)
    assert info["entropy"].shape == info["scaled_entropy"].shape == (3, 1)
    assert model.Q(z, a, task, return_type="all").shape == (4, 3, 101)
    assert model.Q(z, a, task, return_type="min").shape == (3, 1)
    assert model.Q(z, a, task, return_type="avg", target=True).shape == (3, 1)

    # Planner layout: task [E] lines up with the leading dim of z [E, N, latent].
    z_plan = z.unsqueeze(1).expand(3, 7, 32)
    a_plan = torch.rand(3, 7, ACT)
    next_plan = model.next(z_plan, a_plan, task)
    assert next_plan.shape == (3, 7, 32)
    torch.testing.assert_close(next_plan[:, 4], model.next(z, a_plan[:, 4], task))
    # Training layout: task [1, B] (or [T, B]) with z [T, B, latent].
    z_seq = torch.stack([z, z])
    assert model.Q(z_seq, torch.stack([a, a]), task.unsqueeze(0), "all").shape == (4, 2, 3, 101)
    torch.testing.assert_close(
        model.reward(z_seq, torch.stack([a, a]), task.expand(2, 3))[1], model.reward(z, a, task)
    )
    # TorchRL env layout: task [B, 1].
    torch.testing.assert_close(model.reward(z, a, task.unsqueeze(-1)), model.reward(z, a, task))
    # A 0-d task applies to the whole batch.
    torch.testing.assert_close(
        model.reward(z, a, torch.tensor(2)), model.reward(z, a, torch.full((3,), 2))
    )


def test_task_conditioning_changes_outputs():
    model = multitask_model()
    obs = torch.randn(1, OBS).expand(3, OBS)
    z = model.encode(obs, torch.tensor([0, 1, 2]))
    assert not torch.allclose(z[0], z[1]) and not torch.allclose(z[1], z[2])
    torch.testing.assert_close(z.view(3, -1, 8).sum(-1), torch.ones(3, 4))  # SimNorm latent


def test_single_task_shapes():
    model = single_task_model()
    assert not model.is_multitask
    z = model.encode(torch.randn(5, OBS), None)
    a = torch.rand(5, 6)
    assert model.next(z, a, None).shape == (5, 32)
    assert model.reward(z, a, None).shape == (5, 101)
    action, info = model.pi(z, None)
    assert action.shape == (5, 6) and info["scaled_entropy"].shape == (5, 1)
    assert model.Q(z, a, None, "all").shape == (4, 5, 101)
    assert model.Q(z, a, None).shape == (5, 1)
    assert model.action_mask(None).tolist() == [1.0] * 6


def test_feature_input():
    torch.manual_seed(0)
    model = NewtWorldModel(
        OBS, ACT, "S", task_embeddings=torch.randn(2, TASK_DIM), feature_dim=10, **SMALL
    )
    task = torch.tensor([1, 0])
    feature = torch.randn(2, 10)
    z = model.encode(torch.randn(2, OBS), task, feature)
    assert z.shape == (2, 32)
    with pytest.raises(ValueError, match="trailing dim of 10"):
        model.encode(torch.randn(2, OBS), task)


def test_initial_reward_and_q_are_uniform():
    model = multitask_model()
    task = torch.tensor([0, 1])
    z = model.encode(torch.randn(2, OBS), task)
    a = torch.zeros(2, ACT)
    assert (model.reward(z, a, task) == 0).all()
    assert (model.Q(z, a, task, "all") == 0).all()
    assert (model.Q(z, a, task, "all", target=True) == 0).all()
    assert model.two_hot.decode(model.reward(z, a, task)).abs().max() < 1e-5


# ----------------------------------------------------------------------------- policy
def test_masked_action_dims_are_exactly_zero():
    model = multitask_model()
    with torch.no_grad():
        for p in model._pi.parameters():
            p.normal_(0, 0.5)  # large means and stds in every dim, padded ones included
    task = torch.tensor([0, 1, 2, 0, 2])
    z = model.encode(torch.randn(5, OBS), task)
    action, info = model.pi(z, task)
    mask = model.action_mask(task)
    assert mask.shape == (5, ACT)
    assert mask.sum(-1).tolist() == [2, 16, 5, 2, 5]
    for name, tensor in (("action", action), ("mean", info["mean"]), ("log_std", info["log_std"])):
        assert (tensor[mask == 0] == 0).all(), name
        assert (tensor[mask == 1] != 0).all(), name
    # Same for the planner layout [E, N, latent].
    action, info = model.pi(z[:, None].expand(5, 9, 32), task)
    assert (action[mask[:, None].expand(5, 9, ACT) == 0] == 0).all()


def test_policy_log_std_bounds_and_reparameterisation():
    model = multitask_model(log_std_min=-3.0, log_std_max=1.0)
    with torch.no_grad():
        for p in model._pi.parameters():
            p.normal_(0, 2.0)
    task = torch.ones(64, dtype=torch.long)
    z = model.encode(torch.randn(64, OBS), task)
    action, info = model.pi(z, task)
    assert info["log_std"].min() >= -3.0 and info["log_std"].max() <= 1.0
    assert action.abs().max() <= 1.0
    action.sum().backward()
    assert all(p.grad is not None for p in model._pi.parameters())


def test_entropy_hand_computed_and_scaled_by_true_action_dim():
    model = multitask_model()
    mean_pre = torch.linspace(-0.5, 0.5, ACT)
    raw_log_std = torch.linspace(-1.0, 1.0, ACT)
    last = model._pi[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.cat([mean_pre, raw_log_std]))  # same Gaussian for every input
    task = torch.tensor([0, 1, 2])
    z = model.encode(torch.randn(3, OBS), task)
    torch.manual_seed(123)
    action, info = model.pi(z, task)
    torch.manual_seed(123)
    eps = torch.randn(3, ACT)

    mask = torch.zeros(3, ACT)
    for row, dim in enumerate(ACTION_DIMS):
        mask[row, :dim] = 1
    log_std = (-10 + 0.5 * 12 * (torch.tanh(raw_log_std) + 1)) * mask
    eps = eps * mask
    gaussian = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
    expected_action = torch.tanh(mean_pre * mask + eps * log_std.exp())
    squashed = gaussian - torch.log(torch.relu(1 - expected_action**2) + 1e-6).sum(-1, keepdim=True)
    n_valid = torch.tensor(ACTION_DIMS, dtype=torch.float32).unsqueeze(-1)

    torch.testing.assert_close(action, expected_action)
    torch.testing.assert_close(info["mean"], torch.tanh(mean_pre * mask))
    torch.testing.assert_close(info["log_std"], log_std)
    torch.testing.assert_close(info["entropy"], -squashed)
    # TD-MPC2 scaling: -log p * (n_valid * log p_gaussian) / log p, i.e. ~ -n_valid * log p_gaussian.
    torch.testing.assert_close(info["scaled_entropy"], -n_valid * gaussian, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- Q ensemble
def test_q_min_avg_use_two_distinct_heads():
    model = multitask_model()
    randomise(model)
    task = torch.tensor([0, 1, 2])
    z = model.encode(torch.randn(3, OBS), task)
    a = torch.rand(3, ACT)
    values = model.two_hot.decode(model.Q(z, a, task, "all"))  # [4, 3, 1]
    pairs = list(itertools.combinations(range(4), 2))
    seen = set()
    for _ in range(30):
        q_min, q_avg = model.Q(z, a, task, "min"), model.Q(z, a, task, "avg")
        assert any(torch.allclose(q_min, values[[i, j]].min(0).values, atol=1e-5) for i, j in pairs)
        matches = [p for p in pairs if torch.allclose(q_avg, values[list(p)].mean(0), atol=1e-5)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1  # the pair is drawn at random


def test_q_evaluates_only_two_heads(monkeypatch):
    model = multitask_model()
    ensemble = model._Qs
    sizes = []
    forward = type(ensemble).forward

    def spy(self, x, params=None, shared=None):
        sizes.append((params if params is not None else self.params).batch_size[0])
        return forward(self, x, params, shared)

    monkeypatch.setattr(type(ensemble), "forward", spy)
    task = torch.tensor([0])
    z = model.encode(torch.randn(1, OBS), task)
    model.Q(z, torch.zeros(1, ACT), task, "min")
    model.Q(z, torch.zeros(1, ACT), task, "avg", target=True)
    model.Q(z, torch.zeros(1, ACT), task, "all")
    assert sizes == [2, 2, 4]


def test_q_gradients_target_and_detach():
    model = multitask_model()
    randomise(model)
    task = torch.tensor([0, 1])
    z = model.encode(torch.randn(2, OBS), task).detach().requires_grad_()
    a = torch.rand(2, ACT, requires_grad=True)

    model.Q(z, a, task, "avg").sum().backward()
    assert model.q_params["0", "weight"].grad is not None
    model.zero_grad()

    # detach: no gradient to the Q heads, but gradient still reaches the action (policy loss).
    a.grad = None
    model.Q(z, a, task, "avg", detach=True).sum().backward()
    assert model.q_params["0", "weight"].grad is None
    assert a.grad is not None and a.grad.abs().sum() > 0

    out = model.Q(z, a, task, "all", target=True)
    assert not any(t.requires_grad for t in model.target_q_params.values(True, True))
    out.sum().backward()
    assert model.q_params["0", "weight"].grad is None


def test_soft_update_target_hand_computed():
    model = multitask_model()
    with torch.no_grad():
        model.q_params.data.apply_(lambda t: t.fill_(2.0))
        model.target_q_params.data.apply_(lambda t: t.fill_(0.0))
    model.soft_update_target(0.01)
    for tensor in model.target_q_params.values(True, True):
        torch.testing.assert_close(tensor, torch.full_like(tensor, 0.02))
    model.soft_update_target(0.5)  # 0.02 + 0.5 * (2 - 0.02) = 1.01
    for tensor in model.target_q_params.values(True, True):
        torch.testing.assert_close(tensor, torch.full_like(tensor, 1.01))


class _QParamsLoss(LossModule):
    """The registration a Newt loss uses so TorchRL's target updaters drive the target heads."""

    qvalue_network_params: TensorDictParams
    target_qvalue_network_params: TensorDictParams

    def __init__(self, model):
        super().__init__()
        self.world_model = model
        self.qvalue_network_params = model.q_params
        self.target_qvalue_network_params = model.target_q_params
        self._has_update_associated["qvalue_network"] = False

    def forward(self, tensordict):
        return TensorDict(
            loss_q=self.world_model.Q(
                tensordict["latent"], tensordict["action"], tensordict["task"], "avg"
            ).mean()
        )


def test_torchrl_soft_update_drives_target_heads():
    model = multitask_model()
    loss = _QParamsLoss(model)
    updater = SoftUpdate(loss, tau=0.25)
    with torch.no_grad():
        model.q_params.data.apply_(lambda t: t.fill_(1.0))
        model.target_q_params.data.apply_(lambda t: t.fill_(-1.0))
    updater.step()
    for tensor in model.target_q_params.values(True, True):
        torch.testing.assert_close(tensor, torch.full_like(tensor, -0.5))
    for tensor in model.q_params.values(True, True):
        assert (tensor == 1).all()
    # The loss sees the same tensors as the model: Q(target=True) uses the updated heads.
    assert (
        loss.target_qvalue_network_params["0", "weight"].data_ptr()
        == model.target_q_params["0", "weight"].data_ptr()
    )
    td = TensorDict(
        latent=torch.rand(2, 32),
        action=torch.rand(2, ACT),
        task=torch.tensor([0, 1]),
        batch_size=[2],
    )
    loss(td)["loss_q"].backward()
    assert model.q_params["0", "weight"].grad is not None


# ----------------------------------------------------------------------------- TensorDict modules
def test_tensordict_modules_keys_and_values():
    model = multitask_model()
    randomise(model)
    assert model.encoder_module.in_keys == ["observation", "task"]
    assert model.encoder_module.out_keys == ["latent"]
    assert model.dynamics_module.in_keys == ["latent", "action", "task"]
    assert model.dynamics_module.out_keys == [("next", "latent")]
    assert model.reward_module.out_keys == ["reward_logits"]
    assert model.policy_module.in_keys == ["latent", "task"]
    assert model.policy_module.out_keys == [
        "action",
        "action_mean",
        "action_log_std",
        "entropy",
        "scaled_entropy",
    ]
    assert model.q_module.out_keys == ["state_action_value_logits", "state_action_value"]
    assert model.encoder_module is model.encoder_module  # built once

    task = torch.tensor([[0], [2], [1], [2]])  # TorchRL envs store the task index as [B, 1]
    td = TensorDict(observation=torch.randn(4, OBS), task=task, batch_size=[4])
    model.encoder_module(td)
    torch.testing.assert_close(td["latent"], model.encode(td["observation"], task))
    torch.manual_seed(5)
    model.policy_module(td)
    torch.manual_seed(5)
    action, info = model.pi(td["latent"], task)
    torch.testing.assert_close(td["action"], action)
    torch.testing.assert_close(td["action_mean"], info["mean"])
    model.dynamics_module(td)
    torch.testing.assert_close(td["next", "latent"], model.next(td["latent"], td["action"], task))
    model.reward_module(td)
    torch.testing.assert_close(td["reward_logits"], model.reward(td["latent"], td["action"], task))
    model.q_module(td)
    logits = model.Q(td["latent"], td["action"], task, "all")
    assert td["state_action_value_logits"].shape == (4, 4, 101)
    torch.testing.assert_close(td["state_action_value_logits"], logits.movedim(0, -2))
    assert td["state_action_value"].shape == (4, 1)

    # Each module exposes only the networks it runs.
    names = {name.split(".")[1] for name, _ in model.policy_module.named_parameters()}
    assert names == {"pi"}
    assert sum(p.numel() for p in model.q_module.parameters()) == sum(
        t.numel() for t in model.q_params.values(True, True)
    )


def test_tensordict_modules_single_task_and_feature_keys():
    model = single_task_model()
    assert model.encoder_module.in_keys == ["observation"]
    assert model.q_module.in_keys == ["latent", "action"]
    td = TensorDict(observation=torch.randn(3, OBS), batch_size=[3])
    model.encoder_module(td)
    model.policy_module(td)
    model.q_module(td)
    assert td["action"].shape == (3, 6) and td["state_action_value"].shape == (3, 1)

    featured = NewtWorldModel(
        OBS, ACT, "S", task_embeddings=torch.randn(2, TASK_DIM), feature_dim=10, **SMALL
    )
    assert featured.encoder_module.in_keys == ["observation", "task", "observation_feature"]
    td = TensorDict(
        observation=torch.randn(2, OBS),
        task=torch.tensor([0, 1]),
        observation_feature=torch.randn(2, 10),
        batch_size=[2],
    )
    assert featured.encoder_module(td)["latent"].shape == (2, 32)


def test_state_dict_round_trip():
    model = multitask_model()
    randomise(model)
    clone = multitask_model()
    clone.load_state_dict(model.state_dict())
    task = torch.tensor([0, 2])
    obs = torch.randn(2, OBS)
    torch.testing.assert_close(clone.encode(obs, task), model.encode(obs, task))
    z = model.encode(obs, task)
    a = torch.rand(2, ACT)
    torch.testing.assert_close(
        clone.Q(z, a, task, "all", target=True), model.Q(z, a, task, "all", target=True)
    )
    assert set(model.state_dict()) == set(clone.state_dict())
    assert "task_embeddings" in model.state_dict() and "action_masks" in model.state_dict()


# ----------------------------------------------------------------------------- errors
def test_clear_errors_on_bad_input():
    model = multitask_model()
    task = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"trailing dim of 20, got shape \(2, 19\)"):
        model.encode(torch.randn(2, OBS - 1), task)
    with pytest.raises(IndexError, match=r"task index \[3\] out of range.*0\.\.2"):
        model.encode(torch.randn(2, OBS), torch.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"task index \[-1\]"):
        model.action_mask(torch.tensor([-1]))
    with pytest.raises(ValueError, match="needs a task index tensor, got None"):
        model.encode(torch.randn(2, OBS), None)
    with pytest.raises(TypeError, match="integer tensor"):
        model.encode(torch.randn(2, OBS), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="does not line up"):
        model.reward(torch.randn(2, 32), torch.randn(2, ACT), torch.tensor([0, 1, 2]))
    z = model.encode(torch.randn(2, OBS), task)
    with pytest.raises(
        ValueError, match=r"Unknown return_type 'max'; allowed: \['all', 'min', 'avg'\]"
    ):
        model.Q(z, torch.zeros(2, ACT), task, return_type="max")
    with pytest.raises(ValueError, match="single-task model"):
        single_task_model().encode(torch.randn(2, OBS), task)


def test_vmap_over_task_indices():
    """The task range check is skipped for values torch.vmap traces (TorchRL value estimators)."""
    model = multitask_model()
    randomise(model)
    task = torch.tensor([2, 0, 1])
    z = model.encode(torch.randn(3, OBS), task)
    a = torch.randn(3, ACT)
    vmapped = torch.vmap(model.reward)(z, a, task)
    torch.testing.assert_close(vmapped, model.reward(z, a, task))
    vmapped_next = torch.vmap(model.next, in_dims=(0, 0, 0))(z, a, task)
    torch.testing.assert_close(vmapped_next, model.next(z, a, task))


def test_clear_errors_on_bad_construction():
    with pytest.raises(
        ValueError, match=r"Unknown model_size 'M'; allowed: \['S', 'B', 'L', 'XL'\]"
    ):
        NewtWorldModel(OBS, ACT, "M")
    with pytest.raises(TypeError, match="Unknown override.*latent_size"):
        NewtWorldModel(OBS, ACT, "S", latent_size=64)
    with pytest.raises(ValueError, match="action_dims has 2 entries but the model has 3"):
        NewtWorldModel(
            OBS, ACT, "S", task_embeddings=torch.zeros(3, 4), action_dims=[1, 2], **SMALL
        )
    with pytest.raises(ValueError, match=r"action_dims\[1\] = 17"):
        NewtWorldModel(
            OBS, ACT, "S", task_embeddings=torch.zeros(2, 4), action_dims=[1, 17], **SMALL
        )
    with pytest.raises(ValueError, match="multiple of simnorm_dim"):
        NewtWorldModel(OBS, ACT, "S", latent_dim=30)
    with pytest.raises(ValueError, match=r"\(num_tasks, task_dim\)"):
        NewtWorldModel(OBS, ACT, "S", task_embeddings=torch.zeros(4), **SMALL)
