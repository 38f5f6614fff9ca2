"""Tests of NewtLoss, NewtUpdater and the objective helpers (tiny model, CPU)."""
import math

import pytest
import torch
from tensordict import TensorDict
from torchrl.objectives import SoftUpdate

from newt.modules.world_model import NewtWorldModel
from newt.objectives import NewtLoss, NewtUpdater, RunningScale, discount_heuristic, temporal_weights

pytestmark = pytest.mark.filterwarnings("ignore:No target network updater")

OBS, ACT, B, H = 4, 3, 5, 2
DISCOUNTS = [0.9, 0.97]


def _model(seed=0, **kwargs):
    torch.manual_seed(seed)
    model = NewtWorldModel(
        OBS, ACT, "S", task_embeddings=torch.randn(2, 6), action_dims=[2, 3],
        latent_dim=16, mlp_dim=32, enc_dim=32, num_q=3, **kwargs,
    )
    # Move away from the zero-initialised heads so every term is non-trivial.
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
        model.target_q_params.data.copy_(model.q_params.data + 0.1 * torch.randn_like(model.q_params.data))
    return model


def _batch(seed=1, batch=B, steps=H + 1):
    g = torch.Generator().manual_seed(seed)
    task = torch.tensor([0, 1, 1, 0, 1])[:batch]
    return TensorDict(
        {
            "observation": torch.randn(batch, steps, OBS, generator=g),
            "action": torch.rand(batch, steps, ACT, generator=g) * 2 - 1,
            ("next", "reward"): torch.randn(batch, steps, 1, generator=g) * 3,
            "task": task[:, None, None].expand(batch, steps, 1).clone(),
        },
        batch_size=[batch, steps],
    )


# Independent reference maths -------------------------------------------------------------
def _symlog(x):
    return torch.sign(x) * torch.log1p(x.abs())


def _two_hot(x, num_bins=101, vmin=-10.0, vmax=10.0):
    """Two-hot target, written with an explicit bin index and offset."""
    size = (vmax - vmin) / (num_bins - 1)
    pos = (_symlog(x).clamp(vmin, vmax) - vmin) / size
    low = pos.floor()
    frac = pos - low
    out = torch.zeros(*x.shape, num_bins)
    out.scatter_(-1, low.long().unsqueeze(-1), (1 - frac).unsqueeze(-1))
    out.scatter_add_(-1, ((low.long() + 1) % num_bins).unsqueeze(-1), frac.unsqueeze(-1))
    return out


def _decode(logits, num_bins=101, vmin=-10.0, vmax=10.0):
    mean = (logits.softmax(-1) * torch.linspace(vmin, vmax, num_bins)).sum(-1)
    return torch.sign(mean) * (mean.abs().exp() - 1)


def _ce(logits, target):
    return -(_two_hot(target) * logits.log_softmax(-1)).sum(-1)


def _rho(horizon, rho=0.5):
    weights = [rho**t for t in range(horizon + 1)]
    return torch.tensor([w / sum(weights) for w in weights])


def _masked_bc(pi_action, action, task):
    dims = torch.tensor([2, 3])[task]
    valid = (torch.arange(ACT) < dims[:, None]).float().unsqueeze(1)
    return ((pi_action - action) ** 2 * valid).sum(-1) / dims[:, None]


def _expected_model_terms(model, batch, seed):
    obs, action = batch["observation"], batch["action"][:, :H]
    reward = batch["next", "reward"][:, :H, 0]
    task = batch["task"][:, 0, 0]
    rho = _rho(H)
    with torch.no_grad():
        next_z = model.encode(obs[:, 1:], task)
        torch.manual_seed(seed)  # replay the loss's draws: policy noise, then two target heads
        next_a, _ = model.pi(next_z, task)
        heads = torch.randperm(model.num_q)[:2]
        target_q = _decode(model.Q(next_z, next_a, task, return_type="all", target=True)[heads]).min(0).values
        td = reward + torch.tensor(DISCOUNTS)[task][:, None] * target_q
        zs = [model.encode(obs[:, 0], task)]
        for t in range(H):
            zs.append(model.next(zs[-1], action[:, t], task))
        zs = torch.stack(zs, 1)
        consistency = sum(rho[t] * ((zs[:, t + 1] - next_z[:, t]) ** 2).mean() for t in range(H))
        reward_logits = model.reward(zs[:, :H], action, task)
        reward_loss = sum(rho[t] * _ce(reward_logits[:, t], reward[:, t]).mean() for t in range(H))
        q_logits = model.Q(zs[:, :H], action, task, return_type="all")
        value_loss = sum(
            rho[t] * _ce(q_logits[k, :, t], td[:, t]).mean() for t in range(H) for k in range(model.num_q)
        ) / model.num_q
    return zs, consistency, reward_loss, value_loss


# Helpers ---------------------------------------------------------------------------------
def test_temporal_weights_and_discounts():
    torch.testing.assert_close(temporal_weights(3), torch.tensor([8, 4, 2, 1]) / 15.0)
    lengths = torch.tensor([25, 50, 100, 200, 250, 500, 1000])
    expected = torch.tensor([0.95, 0.95, 0.95, 0.975, 0.98, 0.99, 0.995])
    torch.testing.assert_close(discount_heuristic(lengths), expected)
    with pytest.raises(ValueError, match="horizon"):
        temporal_weights(0)
    with pytest.raises(ValueError, match="positive"):
        discount_heuristic([0])


def test_running_scale_by_hand():
    scale = RunningScale(tau=0.01)
    values = torch.tensor([3.0, -1.0, 10.0, 4.0, 0.0, 7.0, 2.0, 5.0, 1.0, 6.0, 8.0])
    sorted_values = values.sort().values
    n = values.numel()

    def percentile(p):
        pos = p * (n - 1) / 100
        low = math.floor(pos)
        return sorted_values[low] * (1 - (pos - low)) + sorted_values[min(low + 1, n - 1)] * (pos - low)

    span = percentile(95) - percentile(5)
    scale.update(values)
    torch.testing.assert_close(scale.value, 1 + 0.01 * (span - 1))
    value = scale.value.clone()
    scale.update(torch.zeros(8))  # span 0 is clipped to 1
    torch.testing.assert_close(scale.value, value + 0.01 * (1 - value))
    restored = RunningScale()
    restored.load_state_dict(scale.state_dict())
    torch.testing.assert_close(restored.value, scale.value)


# The loss against hand-computed numbers --------------------------------------------------
def test_model_loss_matches_hand_computation():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    batch = _batch()
    torch.manual_seed(7)
    losses, rollout = loss.model_loss(batch)
    zs, consistency, reward_loss, value_loss = _expected_model_terms(model, batch, seed=7)
    torch.testing.assert_close(losses["loss_consistency"], 20 * consistency)
    torch.testing.assert_close(losses["loss_reward"], 0.1 * reward_loss)
    torch.testing.assert_close(losses["loss_value"], 0.1 * value_loss)
    torch.testing.assert_close(rollout["latent"], zs)
    assert not rollout["latent"].requires_grad
    assert "loss_prior" not in losses.keys()


def test_policy_loss_matches_hand_computation():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    loss.running_scale.value.fill_(2.0)
    batch = _batch()
    _, rollout = loss.model_loss(batch)
    torch.manual_seed(3)
    out = loss.policy_loss(rollout)

    zs, task, action = rollout["latent"], batch["task"][:, 0, 0], batch["action"][:, :H]
    rho = _rho(H)
    with torch.no_grad():
        torch.manual_seed(3)  # replay: policy noise, then two online heads
        pi_action, info = model.pi(zs, task)
        heads = torch.randperm(model.num_q)[:2]
        q = _decode(model.Q(zs, pi_action, task, return_type="all")[heads]).mean(0)
    entropy = info["scaled_entropy"][..., 0]
    maxq = sum(rho[t] * (-1e-4 * entropy[:, t] - q[:, t] / 2.0).mean() for t in range(H + 1))
    bc = _masked_bc(pi_action[:, :H], action, task)
    bc_loss = sum(rho[t] * bc[:, t].mean() for t in range(H))
    torch.testing.assert_close(out["loss_pi"], maxq)
    torch.testing.assert_close(out["loss_bc"], bc_loss)
    torch.testing.assert_close(out["q_scale"], torch.tensor(2.0))
    # The scale is updated after use, from the t = 0 values, only in training mode.
    low, high = torch.quantile(q[:, 0], torch.tensor([0.05, 0.95]))
    torch.testing.assert_close(loss.running_scale.value, 2.0 + 0.01 * ((high - low).clamp_min(1) - 2.0))
    loss.eval()
    value = loss.running_scale.value.clone()
    loss.policy_loss(rollout)
    torch.testing.assert_close(loss.running_scale.value, value)


def test_pretraining_prior_matches_hand_computation():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS, pretraining=True)
    batch = _batch()
    torch.manual_seed(11)
    out = loss(batch)
    assert "loss_pi" not in out.keys() and "loss_bc" not in out.keys()

    task, action = batch["task"][:, 0, 0], batch["action"][:, :H]
    zs, *_ = _expected_model_terms(model, batch, seed=11)
    torch.manual_seed(11)
    with torch.no_grad():
        next_z = model.encode(batch["observation"][:, 1:], task)
        model.pi(next_z, task)  # the TD target's draws come first
        torch.randperm(model.num_q)
        pi_action, info = model.pi(zs[:, :H], task)
    rho = _rho(H)[:H]
    prior = (rho * (_masked_bc(pi_action, action, task) - 1e-4 * info["scaled_entropy"][..., 0])).mean()
    torch.testing.assert_close(out["loss_prior"], prior)


def test_discount_from_episode_length():
    model = _model()
    batch = _batch()
    by_length = NewtLoss(model, episode_length=[50, 500])
    by_value = NewtLoss(model, discount=[0.95, 0.99])
    torch.testing.assert_close(by_length.discount, by_value.discount)
    torch.manual_seed(0)
    a = by_length.model_loss(batch)[0]
    torch.manual_seed(0)
    b = by_value.model_loss(batch)[0]
    torch.testing.assert_close(a["loss_value"], b["loss_value"])


# Gradients --------------------------------------------------------------------------------
def _grads(params):
    return [p.grad is not None and p.grad.abs().sum() > 0 for p in params]


def test_model_loss_gradients():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    losses, _ = loss.model_loss(_batch())
    sum(v for k, v in losses.items() if k.startswith("loss_")).backward()
    for name in ("_encoder", "_dynamics", "_reward"):
        assert all(_grads(getattr(model, name).parameters())), name
    assert all(_grads(model.q_params.values(True, True)))
    assert not any(_grads(loss.policy_parameters()))  # policy learns in the policy loss online
    assert all(not p.requires_grad for p in model.target_q_params.values(True, True))
    assert model.task_embeddings.grad is None and not model.task_embeddings.requires_grad
    trainable = {id(p) for p in loss.model_parameters()}
    assert id(model.task_embeddings) not in trainable
    assert not any(id(p) in trainable for p in model.target_q_params.values(True, True))


def test_policy_loss_gradients_reach_only_the_policy():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    _, rollout = loss.model_loss(_batch())
    out = loss.policy_loss(rollout)
    (out["loss_pi"] + out["loss_bc"]).backward()
    assert all(_grads(loss.policy_parameters()))
    policy = {id(p) for p in loss.policy_parameters()}
    others = [p for p in loss.model_parameters() if id(p) not in policy]
    assert others and all(p.grad is None for p in others)


def test_pretraining_gradients_reach_policy_and_encoder():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    loss.pretraining = True
    out = loss(_batch())
    out["loss_prior"].backward()  # BC on the non-detached rollout
    assert all(_grads(loss.policy_parameters()))
    assert all(_grads(model._encoder.parameters()))
    assert all(_grads(model._dynamics.parameters()))


# Masks ------------------------------------------------------------------------------------
def test_bc_ignores_padded_action_dims():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    batch = _batch()
    _, rollout = loss.model_loss(batch)
    altered = rollout.clone()
    task0 = rollout["task"] == 0  # task 0 has 2 real action dims out of 3
    altered["action"][task0, :, 2] = 5.0
    torch.manual_seed(0)
    a = loss.policy_loss(rollout)
    torch.manual_seed(0)
    b = loss.policy_loss(altered)
    torch.testing.assert_close(a["loss_bc"], b["loss_bc"])
    altered["action"][task0, :, 1] = 5.0  # a real dim does count
    torch.manual_seed(0)
    c = loss.policy_loss(altered)
    assert not torch.allclose(a["loss_bc"], c["loss_bc"])


@pytest.mark.parametrize("mask_key", ["auto", "valid_steps"])
def test_padded_steps_are_ignored(mask_key):
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS).eval()  # eval: no running-scale update between calls
    if mask_key == "auto":  # the default finds SliceSampler's ("collector", "mask")
        key = ("collector", "mask")
    else:
        key = loss.loss_mask_key = mask_key
    batch = _batch(steps=4)
    valid = torch.ones(B, 4, dtype=torch.bool)
    valid[1, 2:] = False  # slice 1 is padded after its first two steps
    batch[key] = valid.unsqueeze(-1)
    altered = batch.clone()
    altered["observation"][1, 2:] = 100.0
    altered["action"][1, 2:] = -0.9
    altered["next", "reward"][1, 1:] = 50.0

    def run(td):
        torch.manual_seed(0)
        return loss(td)

    a, b = run(batch), run(altered)
    for name in ("loss_consistency", "loss_reward", "loss_value", "loss_pi", "loss_bc"):
        torch.testing.assert_close(a[name], b[name])
    loss.loss_mask_key = None
    assert not torch.allclose(run(batch)["loss_value"], run(altered)["loss_value"])


# Target network, keys, errors -------------------------------------------------------------
def test_soft_update_moves_targets():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS)
    updater = SoftUpdate(loss, tau=0.01)
    torch.testing.assert_close(model.target_q_params.data, model.q_params.data)  # hard copy at creation
    before = model.target_q_params.data.clone()
    with torch.no_grad():
        for param in model.q_params.values(True, True):
            param.add_(1.0)
    updater.step()
    torch.testing.assert_close(model.target_q_params.data, before + 0.01)


def test_set_keys():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS).eval()
    batch = _batch()
    renamed = TensorDict(
        {
            "obs": batch["observation"],
            "act": batch["action"],
            "rew": batch["next", "reward"],
            ("info", "task_id"): batch["task"],
        },
        batch_size=batch.batch_size,
    )
    torch.manual_seed(0)
    expected = loss(batch)
    loss.set_keys(observation="obs", action="act", reward="rew", task=("info", "task_id"))
    torch.manual_seed(0)
    torch.testing.assert_close(loss(renamed), expected)
    with pytest.raises(ValueError, match="not an accepted tensordict key"):
        loss.set_keys(latent="z")
    loss.set_keys(observation=None)
    assert loss.tensor_keys.observation == "observation"


def test_single_task_model():
    torch.manual_seed(0)
    model = NewtWorldModel(OBS, ACT, "S", latent_dim=16, mlp_dim=32, enc_dim=32)
    loss = NewtLoss(model, episode_length=100)
    batch = _batch().exclude("task")
    out = loss(batch)
    assert torch.isfinite(torch.stack([v for k, v in out.items() if k.startswith("loss_")])).all()
    # Data from MMBench envs carries a task index even for one task: a single-task model ignores it.
    torch.manual_seed(1)
    with_task = loss(_batch())
    torch.manual_seed(1)
    without_task = loss(batch)
    for key in ("loss_consistency", "loss_reward", "loss_value", "loss_pi"):
        torch.testing.assert_close(with_task[key], without_task[key])


def test_updater_grad_sync_sees_gradients_before_the_step():
    model = _model()
    seen = []

    def grad_sync(params):
        seen.append(len(params))
        for param in params:
            if param.grad is not None:
                param.grad.zero_()

    updater = NewtUpdater(NewtLoss(model, discount=0.99), grad_sync=grad_sync)
    before = [p.detach().clone() for p in model.parameters()]
    updater(_batch())
    # Called once for the model step and once for the policy step; zeroed gradients mean
    # Adam moves nothing.
    assert seen == [len(updater.loss.model_parameters()), len(updater.loss.policy_parameters())]
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(old, new.detach())


def test_bad_inputs():
    model = _model()
    with pytest.raises(ValueError, match="exactly one of discount or episode_length"):
        NewtLoss(model)
    with pytest.raises(ValueError, match="exactly one"):
        NewtLoss(model, discount=0.9, episode_length=100)
    with pytest.raises(ValueError, match="discounts must be in"):
        NewtLoss(model, discount=[0.9, 1.5])
    loss = NewtLoss(model, discount=DISCOUNTS)
    with pytest.raises(ValueError, match=r"\[B, H\+1\]"):
        loss(_batch().reshape(-1))
    with pytest.raises(KeyError, match="per-task discounts"):
        loss(_batch().exclude("task"))


# The update helper ------------------------------------------------------------------------
def test_updater_order_and_phases():
    model = _model()
    loss = NewtLoss(model, discount=DISCOUNTS, pretraining=True)
    updater = NewtUpdater(loss, warmup_steps=4)
    assert updater.model_optimizer.param_groups[0]["lr"] == pytest.approx(0.3 * 3e-4 / 4)
    encoder_group = {id(p) for p in updater.model_optimizer.param_groups[0]["params"]}
    assert encoder_group == {id(p) for p in model._encoder.parameters()}
    policy_before = [p.clone() for p in loss.policy_parameters()]
    target_before = model.target_q_params.data.clone()
    metrics = updater(_batch())
    assert "loss_prior" in metrics.keys() and "pi_grad_norm" not in metrics.keys()
    assert metrics["lr"] == pytest.approx(3e-4 / 4)
    assert not updater.policy_optimizer.state  # no policy step in pretraining ...
    # ... the policy learns from BC inside the model step, and the targets moved.
    assert any(not torch.equal(a, b) for a, b in zip(policy_before, loss.policy_parameters()))
    assert (model.target_q_params.data != target_before).any()

    loss.pretraining = False
    scale = loss.running_scale.value.clone()
    metrics = updater(_batch(seed=2))
    assert {"loss_pi", "loss_bc", "pi_grad_norm"} <= set(metrics.keys())
    assert updater.policy_optimizer.state
    assert not torch.equal(loss.running_scale.value, scale)
    assert metrics["lr"] == pytest.approx(2 * 3e-4 / 4)

    restored_loss = NewtLoss(_model(seed=5), discount=DISCOUNTS)
    restored = NewtUpdater(restored_loss, warmup_steps=4)
    restored_loss.load_state_dict(loss.state_dict())
    restored.load_state_dict(updater.state_dict())
    assert restored.num_updates == 2
    torch.testing.assert_close(restored_loss.running_scale.value, loss.running_scale.value)
    assert restored.model_optimizer.param_groups[1]["lr"] == updater.model_optimizer.param_groups[1]["lr"]
