"""Checkpoint I/O and import of official Newt checkpoints.

The official checkpoint here is synthetic: random tensors in the official key layout, and the
expected outputs come from a small re-statement of the official forward written below from the
formulas (NormedLinear = Linear -> LayerNorm -> Mish; SimNorm heads; [z ; e ; a] inputs).
"""

import os
import re

import pytest
import torch
import torch.nn.functional as F

from newt.modules import (
    NewtWorldModel,
    convert_official_state_dict,
    load_checkpoint,
    save_checkpoint,
)

OBS, ACT, TASK_DIM, NUM_Q = 10, 4, 6, 3
LATENT, MLP_DIM, ENC_DIM = 16, 24, 20
ACTION_DIMS = [1, 4, 3]
SMALL = dict(latent_dim=LATENT, mlp_dim=MLP_DIM, enc_dim=ENC_DIM, num_enc_layers=3, num_q=NUM_Q)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-off costs on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- official reference
def _official_mlp_state(prefix, dims, simnorm_head, generator):
    state = {}
    last = len(dims) - 2
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
        state[f"{prefix}{i}.weight"] = torch.randn(n_out, n_in, generator=generator) * 0.3
        state[f"{prefix}{i}.bias"] = torch.randn(n_out, generator=generator) * 0.1
        if i < last or simnorm_head:
            state[f"{prefix}{i}.ln.weight"] = 1 + 0.1 * torch.randn(n_out, generator=generator)
            state[f"{prefix}{i}.ln.bias"] = 0.1 * torch.randn(n_out, generator=generator)
    return state


def _layer_norm(x, weight, bias):
    centred = x - x.mean(-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5) * weight + bias


def _official_mlp(state, prefix, x, num_layers, simnorm_head):
    for i in range(num_layers):
        x = x @ state[f"{prefix}{i}.weight"].T + state[f"{prefix}{i}.bias"]
        if i < num_layers - 1:
            x = _layer_norm(x, state[f"{prefix}{i}.ln.weight"], state[f"{prefix}{i}.ln.bias"])
            x = x * torch.tanh(F.softplus(x))  # Mish
        elif simnorm_head:
            x = _layer_norm(x, state[f"{prefix}{i}.ln.weight"], state[f"{prefix}{i}.ln.bias"])
            x = torch.softmax(x.view(*x.shape[:-1], -1, 8), -1).view(x.shape)
    return x


def official_state_dict(
    task_dim=TASK_DIM,
    num_tasks=3,
    latent=LATENT,
    mlp_dim=MLP_DIM,
    enc_dim=ENC_DIM,
    enc_hidden=2,
    num_q=NUM_Q,
    ddp=True,
    seed=0,
):
    generator = torch.Generator().manual_seed(seed)
    za = latent + task_dim + ACT
    state = {}
    state.update(
        _official_mlp_state(
            "_encoder.state.", [OBS + task_dim, *[enc_dim] * enc_hidden, latent], True, generator
        )
    )
    state.update(_official_mlp_state("_dynamics.", [za, mlp_dim, mlp_dim, latent], True, generator))
    state.update(_official_mlp_state("_reward.", [za, mlp_dim, mlp_dim, 101], False, generator))
    state.update(
        _official_mlp_state(
            "_pi.", [latent + task_dim, mlp_dim, mlp_dim, 2 * ACT], False, generator
        )
    )
    for which in ("online", "target"):
        for k in range(num_q):
            state.update(
                _official_mlp_state(
                    f"_Qs.{which}._Qs.{k}.", [za, mlp_dim, mlp_dim, 101], False, generator
                )
            )
    if task_dim:
        state["_task_emb.weight"] = torch.randn(num_tasks, task_dim, generator=generator)
    masks = torch.zeros(num_tasks, ACT)
    for task, dim in enumerate(ACTION_DIMS[:num_tasks] if task_dim else [ACT]):
        masks[task, :dim] = 1
    state["_action_masks"] = masks
    state["log_std_min"] = torch.tensor(-10.0)
    state["log_std_dif"] = torch.tensor(12.0)
    if ddp:
        state = {f"module.{key}": value for key, value in state.items()}
    return state


class OfficialReference:
    """The official forward, restated from the formulas, on an official state dict."""

    def __init__(self, state):
        self.state = {key.removeprefix("module."): value for key, value in state.items()}

    def _with_task(self, x, task):
        if task is None:
            return x
        return torch.cat([x, self.state["_task_emb.weight"][task]], -1)

    def encode(self, obs, task):
        return _official_mlp(self.state, "_encoder.state.", self._with_task(obs, task), 3, True)

    def next(self, z, a, task):
        return _official_mlp(
            self.state, "_dynamics.", torch.cat([self._with_task(z, task), a], -1), 3, True
        )

    def reward(self, z, a, task):
        return _official_mlp(
            self.state, "_reward.", torch.cat([self._with_task(z, task), a], -1), 3, False
        )

    def pi_mean_log_std(self, z, task):
        out = _official_mlp(self.state, "_pi.", self._with_task(z, task), 3, False)
        mean, raw = out.chunk(2, -1)
        mask = self.state["_action_masks"][task if task is not None else 0]
        low, dif = self.state["log_std_min"], self.state["log_std_dif"]
        return torch.tanh(mean * mask), (low + 0.5 * dif * (torch.tanh(raw) + 1)) * mask

    def q_all(self, z, a, task, which="online"):
        x = torch.cat([self._with_task(z, task), a], -1)
        num_q = len({k.split(".")[3] for k in self.state if k.startswith(f"_Qs.{which}.")})
        return torch.stack(
            [_official_mlp(self.state, f"_Qs.{which}._Qs.{k}.", x, 3, False) for k in range(num_q)]
        )


# ----------------------------------------------------------------------------- official import
def _save_official(tmp_path, state, wrap=True):
    path = tmp_path / "official.pt"
    obj = state
    if wrap:  # what the official agent.save() writes
        obj = {
            "model": state,
            "optim": {"state": {}, "param_groups": []},
            "pi_optim": {"state": {}, "param_groups": []},
            "scale": {"value": torch.tensor(1.0)},
        }
    torch.save(obj, path)
    return path


def _check_outputs(model, reference, task, batch=5):
    torch.manual_seed(1)
    obs = torch.randn(batch, OBS)
    a = torch.rand(batch, ACT) * 2 - 1
    z = model.encode(obs, task)
    torch.testing.assert_close(z, reference.encode(obs, task), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        model.next(z, a, task), reference.next(z, a, task), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        model.reward(z, a, task), reference.reward(z, a, task), rtol=1e-5, atol=1e-5
    )
    _, info = model.pi(z, task)
    mean, log_std = reference.pi_mean_log_std(z, task)
    torch.testing.assert_close(info["mean"], mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(info["log_std"], log_std, rtol=1e-5, atol=1e-5)
    for which, target in (("online", False), ("target", True)):
        torch.testing.assert_close(
            model.Q(z, a, task, "all", target=target),
            reference.q_all(z, a, task, which),
            rtol=1e-5,
            atol=1e-5,
        )


def test_official_multitask_checkpoint_outputs_match(tmp_path):
    state = official_state_dict()
    path = _save_official(tmp_path, state)
    model = NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "S", **SMALL)
    assert model.num_tasks == 3 and model.task_dim == TASK_DIM
    torch.testing.assert_close(model.task_embeddings, state["module._task_emb.weight"])
    assert model.action_mask(torch.arange(3)).sum(-1).tolist() == ACTION_DIMS
    _check_outputs(model, OfficialReference(state), torch.tensor([0, 2, 1, 1, 0]))


def test_official_single_task_checkpoint(tmp_path):
    state = official_state_dict(task_dim=0, num_tasks=1, ddp=False)
    path = _save_official(tmp_path, state, wrap=False)  # a bare state dict works too
    model = NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "S", **SMALL)
    assert not model.is_multitask
    _check_outputs(model, OfficialReference(state), None)


def test_official_checkpoint_with_new_task_embeddings(tmp_path):
    path = _save_official(tmp_path, official_state_dict())
    embeddings = torch.randn(5, TASK_DIM)
    with pytest.raises(
        ValueError, match="action masks for 3 tasks but the model has 5.*action_dims"
    ):
        NewtWorldModel.from_official_checkpoint(
            path, OBS, ACT, "S", task_embeddings=embeddings, **SMALL
        )
    model = NewtWorldModel.from_official_checkpoint(
        path, OBS, ACT, "S", task_embeddings=embeddings, action_dims=[1, 2, 3, 4, 4], **SMALL
    )
    torch.testing.assert_close(model.task_embeddings, embeddings)
    assert model.action_mask(torch.arange(5)).sum(-1).tolist() == [1, 2, 3, 4, 4]


def test_convert_official_state_dict_keys():
    model = NewtWorldModel(OBS, ACT, "S", task_embeddings=torch.zeros(3, TASK_DIM), **SMALL)
    converted = convert_official_state_dict(official_state_dict())
    ours = model.state_dict()
    assert set(converted) == set(ours)
    assert all(converted[key].shape == ours[key].shape for key in ours)
    assert converted["_Qs.params.0.weight"].shape == (NUM_Q, MLP_DIM, LATENT + TASK_DIM + ACT)
    model.load_state_dict(converted)
    with pytest.raises(ValueError, match=r"unrecognised keys \['_extra.weight'\]"):
        convert_official_state_dict(
            {**official_state_dict(ddp=False), "_extra.weight": torch.zeros(1)}
        )


def test_checkpoint_of_other_layout_names_mismatched_tensors(tmp_path):
    path = _save_official(tmp_path, official_state_dict())
    with pytest.raises(ValueError) as error:
        NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "S", **{**SMALL, "mlp_dim": 32})
    message = str(error.value)
    assert (
        "_dynamics.0.weight (ours: _dynamics.0.0.weight): expected shape (32, 26), found (24, 26)"
        in message
    )
    assert message.splitlines()[-1].startswith("  ... and ")  # long lists are cut short
    with pytest.raises(
        ValueError,
        match=re.escape(
            "_Qs.online._Qs.*.0.weight (ours: _Qs.params.0.weight): expected shape (4, 24, 26), found (3, 24, 26)"
        ),
    ):
        NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "S", **{**SMALL, "num_q": 4})
    with pytest.raises(
        ValueError, match=r"_encoder.state.0.weight .*expected shape \(20, 17\), found \(20, 16\)"
    ):
        NewtWorldModel.from_official_checkpoint(path, OBS + 1, ACT, "S", **SMALL)


def test_checkpoint_of_other_size_names_the_matching_size(tmp_path):
    size_s = dict(latent=384, mlp_dim=256, enc_dim=128, enc_hidden=1, num_q=3)
    path = _save_official(tmp_path, official_state_dict(**size_s))
    with pytest.raises(
        ValueError, match=r"(?s)model_size='B'.*expected shape.*match model_size='S'"
    ):
        NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "B")
    assert NewtWorldModel.from_official_checkpoint(path, OBS, ACT, "S").model_size == "S"


# ----------------------------------------------------------------------------- our own checkpoints
def test_save_and_load_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = NewtWorldModel(
        OBS, ACT, "S", task_embeddings=torch.randn(3, TASK_DIM), action_dims=ACTION_DIMS, **SMALL
    )
    path = save_checkpoint({"model": model.state_dict(), "step": 7}, tmp_path / "run" / "ckpt.pt")
    assert path == tmp_path / "run" / "ckpt.pt"
    loaded = load_checkpoint(path)
    assert loaded["step"] == 7
    clone = NewtWorldModel(OBS, ACT, "S", task_embeddings=torch.zeros(3, TASK_DIM), **SMALL)
    clone.load_state_dict(loaded["model"])
    task = torch.tensor([2, 0])
    obs = torch.randn(2, OBS)
    torch.testing.assert_close(clone.encode(obs, task), model.encode(obs, task))
    torch.testing.assert_close(clone.action_mask(task), model.action_mask(task))


def test_interrupted_save_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"version": torch.tensor(1)}, path)
    with pytest.raises(Exception):
        save_checkpoint({"version": torch.tensor(2), "unpicklable": lambda: None}, path)
    assert load_checkpoint(path)["version"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


def test_load_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint file at .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
