"""End-to-end runs of recipes/newt_mmbench.py on a tiny configuration (pretraining on generated
demonstrations, online steps, evaluation, checkpoints, exact resume)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from tensordict import TensorDict

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "newt_mmbench.py"

# mujoco-reacher: 50-step episodes, 2-d actions. Two envs: 100 env steps per round of episodes.
TINY = [
    "task=mujoco-reacher",
    "model_size=S",
    "+model_kwargs.latent_dim=32",
    "+model_kwargs.mlp_dim=32",
    "+model_kwargs.enc_dim=32",
    "num_envs=2",
    "eval_freq=100",
    "save_freq=100",
    "eval_episodes=1",
    "seeding_coef=1",
    "num_samples=16",
    "num_elites=4",
    "num_pi_trajs=2",
    "iterations=1",
    "batch_size=8",
    "utd=0.1",
    "seed=3",
]


def _run(*overrides, timeout=300):
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, str(RECIPE), *TINY, *overrides],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _official_demos(path: Path, episodes=3, length=50):
    rows = length + 1
    action = torch.rand(episodes, rows, 16) * 2 - 1
    action[..., 2:] = 0
    reward = -torch.rand(episodes, rows)
    action[:, 0] = float("nan")
    reward[:, 0] = float("nan")
    td = TensorDict(
        {
            "obs": torch.randn(episodes, rows, 128),
            "action": action,
            "reward": reward,
            "episode": torch.arange(episodes).unsqueeze(-1).expand(episodes, rows).clone(),
        },
        [episodes, rows],
    ).reshape(-1)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(td, path / "mujoco-reacher.pt")


def _eval_steps(run_dir: Path):
    with (run_dir / "eval.csv").open() as f:
        return [int(float(r["step"])) for r in csv.DictReader(f)]


def _weights(path: Path):
    return torch.load(path, weights_only=False)["loss"]


def test_pretrain_train_eval_save_and_exact_resume(tmp_path):
    data = tmp_path / "demos"
    _official_demos(data)
    common = [f"data_dir={data}", "demo_steps=4", "steps=300", "save_buffer=true"]
    full = tmp_path / "full"
    out = _run(*common, f"run_dir={full}", "save_video=true", "render_size=64")
    assert "eval @ 300 steps" in out
    videos = sorted(p.name for p in (full / "videos").iterdir())
    assert videos == [f"mujoco-reacher_{step}.gif" for step in (0, 100, 200, 300)]
    assert _eval_steps(full) == [0, 100, 200, 300]
    for name in ("config.yaml", "eval.csv", "train.csv", "learning_curve.png"):
        assert (full / name).is_file(), name
    ckpts = full / "checkpoints"
    for name in ("pretrained.pt", "step_100.pt", "step_200.pt", "step_300.pt", "latest.pt"):
        assert (ckpts / name).is_file(), name
    final = torch.load(ckpts / "latest.pt", weights_only=False)
    assert final["state"]["step"] == 300 and final["state"]["pretrained"]
    assert final["state"]["updates"] == 4 + 20  # 4 pretraining + 0.1 x 200 online steps

    # Resume from the step-100 checkpoint: the run continues exactly where it stopped.
    resumed = tmp_path / "resumed"
    out = _run(*common, f"run_dir={resumed}", f"checkpoint={ckpts / 'step_100.pt'}")
    assert "Resumed" in out and "at step 100" in out
    assert _eval_steps(resumed) == [200, 300]
    a, b = _weights(ckpts / "step_300.pt"), _weights(resumed / "checkpoints" / "step_300.pt")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_killed_run_resumes_from_last_save(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(RECIPE), *TINY, "steps=100000", f"run_dir={run_dir}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run_dir / "checkpoints" / "latest.pt"
    deadline = time.time() + 240
    try:
        while not (run_dir / "checkpoints" / "step_200.pt").exists():
            assert proc.poll() is None, "the run ended before its second checkpoint"
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(latest, weights_only=False)["state"]
    assert saved["step"] >= 200
    out = _run("steps=300", f"run_dir={tmp_path / 'resumed'}", f"checkpoint={latest}")
    assert f"at step {saved['step']}" in out
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "latest.pt", weights_only=False)["state"]["step"] == 300


def test_invalid_config_fails_at_start(tmp_path):
    for bad, message in (
        ("model_size=M", "model_size"),
        ("obs=depth", "obs"),
        ("task=walker-wlak", "walker-walk"),
        ("eval_freq=150", "eval_freq"),
    ):
        proc = subprocess.run(
            [sys.executable, str(RECIPE), *TINY, bad, f"run_dir={tmp_path / 'x'}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode != 0
        assert message in proc.stdout + proc.stderr, bad


def test_two_ranks_on_cpu(tmp_path):
    """torchrun with 2 processes (gloo): tasks split over ranks, gradients averaged, metrics on
    rank 0; the recipe itself checks at the end that both model replicas are identical."""
    run_dir = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(RECIPE), *TINY, "steps=200", f"run_dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _eval_steps(run_dir) == [0, 100, 200]
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)["state"]
    assert state["step"] == 200 and state["updates"] == 10


def test_generate_demos_from_a_run_then_pretrain_on_them(tmp_path):
    run_dir = tmp_path / "run"
    _run("steps=100", f"run_dir={run_dir}")
    demos = tmp_path / "demos"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "generate_demos.py"), str(run_dir / "checkpoints" / "latest.pt"),
         "--task", "mujoco-reacher", "--num-demos", "2", "--out", str(demos),
         "--num-samples", "16", "--num-elites", "4", "--num-pi-trajs", "2", "--iterations", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "saved 2 episodes (100 transitions)" in proc.stdout
    out = _run(f"data_dir={demos}", "demo_format=newt", "demo_steps=3", "steps=100",
               f"run_dir={tmp_path / 'from_demos'}")
    assert "Done: 100 env steps" in out


def test_compiled_run(tmp_path):
    """compile=true: pretraining, online updates, planning and evaluation run compiled (the
    values equal eager execution: tests/test_compile.py)."""
    data = tmp_path / "demos"
    _official_demos(data)
    run_dir = tmp_path / "compiled"
    _run(f"data_dir={data}", "demo_steps=2", "steps=200", "compile=true", f"run_dir={run_dir}", timeout=900)
    assert _eval_steps(run_dir) == [0, 100, 200]
    config = (run_dir / "config.yaml").read_text()
    assert "compile: true" in config and "compile_mode: default" in config
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=False)["state"]
    assert state["step"] == 200 and state["updates"] == 2 + 10
