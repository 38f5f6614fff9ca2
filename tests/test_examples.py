"""The reuse examples in recipes/ run end to end with tiny budgets.

Each script's ``main(argv)`` is called in this process (importing torch and TorchRL once for
all of them); the checks are on what a user sees: the printed metrics and the files written.
"""
import importlib.util
import math
import re
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from newt.envs import ALL_TASKS, TASKS, task_info

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def floats_after(label: str, text: str) -> list[float]:
    return [float(v) for v in re.findall(rf"{label}\s+(-?[\d.]+|nan)", text)]


def test_sac_mmbench(capsys):
    sac = load_recipe("sac_mmbench")
    sac.main([
        "--task", "cartpole-balance", "--steps", "300", "--init-random-steps", "100",
        "--frames-per-batch", "100", "--batch-size", "16", "--utd", "0.05", "--num-cells", "16",
        "--eval-episodes", "1",
    ])
    out = capsys.readouterr().out
    assert len(re.findall(r"^step ", out, re.MULTILINE)) == 3
    losses = floats_after("loss_qvalue", out)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    (score,) = floats_after("score", out.split("final eval")[1])
    assert 0.0 <= score <= 1.0  # cartpole-balance: return / 1000 over a 500-step episode


def test_sac_mmbench_unknown_task():
    sac = load_recipe("sac_mmbench")
    with pytest.raises(KeyError, match="cartpole-balanse"):
        sac.main(["--task", "cartpole-balanse", "--steps", "1000"])


def test_custom_world_model(capsys):
    example = load_recipe("custom_world_model")
    example.main([
        "--steps", "400", "--seed-steps", "200", "--frames-per-batch", "100", "--utd", "0.05",
        "--batch-size", "8", "--latent-dim", "16", "--mlp-dim", "32", "--enc-dim", "32",
        "--num-samples", "16",
        "--num-elites", "4", "--num-pi-trajs", "2", "--iterations", "1", "--eval-episodes", "1",
    ])
    out = capsys.readouterr().out
    # Pendulum episodes last 200 steps: two complete ones in 400 steps.
    assert len(floats_after("train return", out)) == 2
    losses = floats_after("loss_consistency", out)
    assert len(losses) == 3 and all(math.isfinite(v) and v >= 0 for v in losses)
    (eval_return,) = floats_after(r"eval return \(1 episodes\):", out)
    assert -16.3 * 200 <= eval_return <= 0  # Pendulum's reward lies in [-16.3, 0]


def _official_mlp(prefix, dims, simnorm_head, generator):
    """One official MLP's entries: Linear weights, and LayerNorms on hidden (and SimNorm) layers."""
    state = {}
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
        state[f"{prefix}{i}.weight"] = torch.randn(n_out, n_in, generator=generator) * 0.05
        state[f"{prefix}{i}.bias"] = torch.zeros(n_out)
        if i < len(dims) - 2 or simnorm_head:
            state[f"{prefix}{i}.ln.weight"] = torch.ones(n_out)
            state[f"{prefix}{i}.ln.bias"] = torch.zeros(n_out)
    return state


def fake_official_checkpoint(path):
    """A random size-S multitask checkpoint in the official key layout (as agent.save() writes)."""
    generator = torch.Generator().manual_seed(0)
    obs, act, task_dim, enc, mlp, latent, num_q = 128, 16, 512, 128, 256, 384, 3
    za = latent + task_dim + act
    state = {}
    state.update(_official_mlp("_encoder.state.", [obs + task_dim, enc, latent], True, generator))
    state.update(_official_mlp("_dynamics.", [za, mlp, mlp, latent], True, generator))
    state.update(_official_mlp("_reward.", [za, mlp, mlp, 101], False, generator))
    state.update(_official_mlp("_pi.", [latent + task_dim, mlp, mlp, 2 * act], False, generator))
    for which in ("online", "target"):
        for k in range(num_q):
            state.update(_official_mlp(f"_Qs.{which}._Qs.{k}.", [za, mlp, mlp, 101], False, generator))
    state["_task_emb.weight"] = torch.randn(len(TASKS), task_dim, generator=generator)
    masks = torch.zeros(len(TASKS), act)
    for index, task in enumerate(TASKS):
        masks[index, : task_info(task).action_dim] = 1
    state["_action_masks"] = masks
    state["log_std_min"] = torch.tensor(-10.0)
    state["log_std_dif"] = torch.tensor(12.0)
    torch.save({"model": {f"module.{key}": value for key, value in state.items()}}, path)


def test_eval_official_checkpoint(tmp_path, capsys):
    checkpoint, video = tmp_path / "newt-S.pt", tmp_path / "out" / "cartpole.gif"
    fake_official_checkpoint(checkpoint)
    example = load_recipe("eval_official_checkpoint")
    example.main([
        str(checkpoint), "--model-size", "S", "--task", "cartpole-balance", "--max-steps", "4",
        "--num-samples", "16", "--num-elites", "4", "--num-pi-trajs", "2", "--iterations", "1",
        "--render-size", "32", "--video", str(video),
    ])
    out = capsys.readouterr().out
    assert "episode 0: 4 steps" in out
    frames = iio.imread(video)
    assert frames.shape == (5, 32, 32, 3)  # the first observation and one frame per step
    assert frames.std() > 0


def test_eval_official_checkpoint_rejects_held_out_task(tmp_path):
    checkpoint = tmp_path / "newt-S.pt"
    checkpoint.write_bytes(b"")
    held_out = next(name for name in ALL_TASKS if name not in TASKS)
    example = load_recipe("eval_official_checkpoint")
    with pytest.raises(SystemExit):
        example.main([str(checkpoint), "--model-size", "S", "--task", held_out])
