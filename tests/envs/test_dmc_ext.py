"""DMControl-ext tasks: registry, layouts, hand-computed rewards, timing and seeding.

Expected values come from MMBench domains.md sections 1-4 and 1-5, written out by hand here
(not through the package's reward code).
"""
import numpy as np
import pytest
from torchrl.envs.utils import check_env_specs

from newt.envs import dmc_ext, make_env, task_info
from newt.envs.registry import ALL_TASKS, TASKS as MMBENCH_ORDER

# Observation components (name, width) in dict order, per task (domains.md tables 3, 4, 5).
WALKER = [("orientations", 14), ("height", 1), ("velocity", 9)]
CHEETAH = [("position", 8), ("velocity", 9)]
LAYOUTS = {
    "walker-walk-backward": WALKER,
    "walker-run-backward": WALKER,
    "cheetah-run-backward": CHEETAH,
    "cheetah-run-front": CHEETAH,
    "cheetah-run-back": CHEETAH,
    "cheetah-jump": CHEETAH,
    "hopper-hop-backward": [("position", 6), ("velocity", 7), ("touch", 2)],
    "reacher-three-easy": [("position", 3), ("to_target", 2), ("velocity", 3)],
    "reacher-three-hard": [("position", 3), ("to_target", 2), ("velocity", 3)],
    "cup-spin": [("position", 4), ("velocity", 4)],
    "pendulum-spin": [("orientation", 2), ("velocity", 1)],
    "jumper-jump": [("position", 4), ("velocity", 5)],
    "spinner-spin": [("position", 7), ("velocity", 8)],
    "spinner-spin-backward": [("position", 7), ("velocity", 8)],
    "spinner-jump": [("position", 7), ("velocity", 8)],
    "giraffe-run": [("position", 9), ("velocity", 10)],
    "cartpole-balance-two-poles-sparse": [("position", 5), ("velocity", 3)],
    "cartpole-balance-long-sparse": [("position", 3), ("velocity", 2)],
    "walker-stand-incline": WALKER,
    "walker-walk-incline": WALKER,
    "walker-run-incline": WALKER,
    "walker-arabesque": WALKER,
    "walker-lie-down": WALKER,
    "walker-legs-up": WALKER,
    "walker-headstand": WALKER,
    "spinner-spin-four": [("position", 6), ("velocity", 7)],
    "spinner-spin-backward-four": [("position", 6), ("velocity", 7)],
    "spinner-jump-four": [("position", 6), ("velocity", 7)],
}
# Name of the camera MMBench renders with (camera index 0 of each model).
CAMERAS = {
    "walker": "side", "cheetah": "side", "jumper": "side", "spinner": "side", "giraffe": "side",
    "hopper": "cam0", "cup": "cam0", "reacher": "fixed", "pendulum": "fixed", "cartpole": "fixed",
}


def gauss_at_least(x, target, margin):
    """tol(x, (target, inf), margin), gaussian with value 0.1 at the margin."""
    return 1.0 if x >= target else 0.1 ** (((target - x) / margin) ** 2)


def gauss_at_most(x, target, margin):
    return 1.0 if x <= target else 0.1 ** (((x - target) / margin) ** 2)


def reward_at(env, qpos=None, qvel=None):
    """Task reward with every joint at 0 except the named ``qpos`` / ``qvel`` entries."""
    physics = env.physics
    with physics.reset_context():
        physics.data.qpos[:] = 0
        physics.data.qvel[:] = 0
        for joint, value in (qpos or {}).items():
            physics.named.data.qpos[joint] = value
        for joint, value in (qvel or {}).items():
            physics.named.data.qvel[joint] = value
    return float(env.task.get_reward(physics))


def z(env, body):
    return float(env.physics.named.data.xpos[body, "z"])


@pytest.fixture(scope="module")
def envs():
    """One reset env per task, shared by the reward tests (loading is the slow part)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = dmc_ext.load(name, seed=0)
            cache[name].reset()
        return cache[name]

    return get


def test_task_lists_match_the_task_table():
    ext = [t for t in MMBENCH_ORDER if task_info(t).domain == "dmcontrol-ext"]
    assert dmc_ext.MMBENCH_TASKS == tuple(ext)
    assert len(ext) == 16
    held_out = {
        t for t in ALL_TASKS
        if task_info(t).split == "held-out" and task_info(t).domain == "dmcontrol-ext"
    }
    assert set(dmc_ext.HELD_OUT_TASKS) == held_out
    assert len(held_out) == 12
    assert dmc_ext.TASKS == dmc_ext.MMBENCH_TASKS + dmc_ext.HELD_OUT_TASKS


@pytest.mark.parametrize("name", dmc_ext.TASKS)
def test_load_reset_step_layout(name):
    env = dmc_ext.load(name, seed=0)
    time_step = env.reset()
    layout = [(key, int(np.asarray(value).size)) for key, value in time_step.observation.items()]
    assert layout == LAYOUTS[name]
    assert env.action_spec().shape == (task_info(name).action_dim,)
    np.testing.assert_array_equal(env.action_spec().minimum, -1.0)
    np.testing.assert_array_equal(env.action_spec().maximum, 1.0)
    camera = env.physics.model.id2name(dmc_ext.camera_id(name), "camera")
    assert camera == CAMERAS[name.split("-")[0]]
    for _ in range(3):
        time_step = env.step(np.full(env.action_spec().shape, 0.5))
        assert 0.0 <= time_step.reward <= 1.0
        assert all(np.isfinite(v).all() for v in time_step.observation.values())


@pytest.mark.parametrize(
    "name",
    ["cheetah-jump", "jumper-jump", "spinner-spin", "giraffe-run", "spinner-jump-four"],
)
def test_cheetah_style_layout_is_qpos_without_rootx_then_qvel(name):
    env = dmc_ext.load(name, seed=1)
    observation = env.reset().observation
    np.testing.assert_array_equal(observation["position"], env.physics.data.qpos[1:])
    np.testing.assert_array_equal(observation["velocity"], env.physics.data.qvel)


def test_reacher_three_to_target_is_target_minus_finger(envs):
    env = envs("reacher-three-easy")
    observation = env.task.get_observation(env.physics)
    geom_xpos = env.physics.named.data.geom_xpos
    np.testing.assert_allclose(
        observation["to_target"], geom_xpos["target", :2] - geom_xpos["finger", :2]
    )


@pytest.mark.parametrize(
    "name",
    # One task per timing group: walker, cheetah-style, hopper, reacher, cup, pendulum, cartpole.
    ["walker-arabesque", "jumper-jump", "hopper-hop-backward", "reacher-three-hard", "cup-spin",
     "pendulum-spin", "cartpole-balance-long-sparse"],
)
def test_episode_is_1000_control_steps(name):
    env = dmc_ext.load(name, seed=0)
    env.reset()
    steps = 0
    while not env.step(np.zeros(env.action_spec().shape)).last():
        steps += 1
    assert steps + 1 == 1000


def test_unknown_task_and_bad_seed():
    with pytest.raises(KeyError, match="walker-walk-backward"):
        dmc_ext.load("walker-fly")
    with pytest.raises(KeyError, match="cup-spin"):
        dmc_ext.camera_id("cup-catch")
    with pytest.raises(TypeError, match="seed"):
        dmc_ext.load("cup-spin", seed="0")


@pytest.mark.parametrize("name", ["giraffe-run", "cup-spin", "walker-walk-backward"])
def test_seeding_is_deterministic(name):
    def rollout(seed):
        env = dmc_ext.load(name, seed=seed)
        obs = [np.concatenate([np.ravel(v) for v in env.reset().observation.values()])]
        for action in np.linspace(-1, 1, 5):
            time_step = env.step(np.full(env.action_spec().shape, action))
            obs.append(np.concatenate([np.ravel(v) for v in time_step.observation.values()]))
        return np.stack(obs)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3)[0], rollout(4)[0])


# Walker: at qpos 0 the torso is upright at z = 1.3 (standing = upright = 1).
# rootx velocity moves the whole body, so it is the centre-of-mass velocity.
@pytest.mark.parametrize(
    "name, velocity, expected",
    [
        ("walker-walk-backward", -1.0, 1.0),
        ("walker-walk-backward", -0.5, (5 * 0.5 + 1) / 6),
        ("walker-walk-backward", 1.0, 1 / 6),
        ("walker-run-backward", -4.0, (5 * 0.5 + 1) / 6),
        ("walker-run-backward", -8.0, 1.0),
        ("walker-walk-incline", 1.0, 1.0),  # unmodified forward walk on the incline
        ("walker-walk-incline", -1.0, 1 / 6),
    ],
)
def test_walker_move_reward(envs, name, velocity, expected):
    assert reward_at(envs(name), qvel={"rootx": velocity}) == pytest.approx(expected)


def test_walker_backward_stand_terms(envs):
    # Torso at z = 0.9 lying on its side (rooty = pi/2): standing = 0.1**((0.3/0.6)**2),
    # upright = (1 + cos(pi/2)) / 2 = 0.5; moving backward at walk speed gives move = 1.
    env = envs("walker-walk-backward")
    reward = reward_at(env, qpos={"rootz": -0.4, "rooty": np.pi / 2}, qvel={"rootx": -1.0})
    stand = (3 * 0.1 ** 0.25 + 0.5) / 4
    assert reward == pytest.approx(stand * (5 * 1 + 1) / 6)


def test_walker_incline_floor():
    physics = dmc_ext.load("walker-stand-incline", seed=0).physics
    normal = physics.named.data.geom_xmat["floor"].reshape(3, 3)[:, 2]
    assert np.degrees(np.arccos(normal[2])) == pytest.approx(7.95, abs=0.01)
    assert normal[0] < 0  # surface rises towards +x
    assert -normal[0] / normal[2] == pytest.approx(0.1397, abs=1e-4)


@pytest.mark.parametrize("pose", ["arabesque", "lie-down", "legs-up", "headstand"])
@pytest.mark.parametrize(
    "qpos",
    [{}, {"rooty": np.pi, "rootz": 0.2}, {"rooty": np.pi / 2, "rootz": -1.2}, {"right_hip": 1.5}],
)
def test_walker_yoga_rewards(envs, pose, qpos):
    env = envs(f"walker-{pose}")
    reward = reward_at(env, qpos=qpos)
    torso, left_foot, right_foot = z(env, "torso"), z(env, "left_foot"), z(env, "right_foot")
    thighs = (z(env, "left_thigh") + z(env, "right_thigh")) / 2
    feet = (left_foot + right_foot) / 2
    flip = (1 - env.physics.named.data.xmat["torso", "zz"]) / 2
    torso_down = gauss_at_most(torso, 0.08, 0.04)
    thigh_down = gauss_at_most(thighs, 0.08, 0.04)
    legs_up = gauss_at_least(feet, 1.1, 0.55)
    expected = {
        "arabesque": (3 * gauss_at_least(torso, 1.0, 0.5) + gauss_at_most(left_foot, 0.08, 0.5)
                      + gauss_at_least(right_foot, 1.0, 0.5) + flip) / 6,
        "lie-down": (3 * torso_down + thigh_down + flip) / 5,
        "legs-up": (3 * torso_down + 2 * legs_up + thigh_down + flip) / 7,
        "headstand": (3 * legs_up + 2 * gauss_at_least(thighs, 1.0, 0.5)) / 5,
    }[pose]
    assert reward == pytest.approx(expected)


def test_walker_headstand_wants_feet_and_hips_up(envs):
    # The hips sit 0.3 m below the torso origin (z 1.3): inverted about it they are at 1.6 m
    # and the feet higher still, so both terms are 1. Upright, the hips are at exactly 1.0 m
    # (thigh_up = 1) but the feet are near the ground (legs_up ~ 0).
    env = envs("walker-headstand")
    assert reward_at(env, qpos={"rooty": np.pi}) == pytest.approx(1.0)
    assert reward_at(env) == pytest.approx(2 / 5, abs=1e-3)


@pytest.mark.parametrize(
    "speed, backward", [(-8.0, 1.0), (-4.0, 0.5), (-2.0, 0.25), (0.0, 0.0), (5.0, 0.0)]
)
def test_cheetah_run_backward(envs, speed, backward):
    assert reward_at(envs("cheetah-run-backward"), qvel={"rootx": speed}) == pytest.approx(backward)


@pytest.mark.parametrize(
    "name, foot", [("cheetah-run-front", "bfoot"), ("cheetah-run-back", "ffoot")]
)
@pytest.mark.parametrize("pitch", [-0.8, 0.0, 0.8])
def test_cheetah_run_on_one_leg(envs, name, foot, pitch):
    env = envs(name)
    reward = reward_at(env, qpos={"rooty": pitch, "rootz": 0.3}, qvel={"rootx": 3.0})
    foot_up = gauss_at_least(z(env, foot), 1.2, 0.6)
    up = (3 * foot_up + 2 * gauss_at_least(z(env, "torso"), 1.2, 0.6)) / 5
    assert reward == pytest.approx(up * (5 * 0.5 + 1) / 6)


def test_cheetah_run_front_wants_the_back_foot_up(envs):
    # Positive pitch about y lowers the nose and lifts the back foot.
    state = dict(qpos={"rooty": 0.8, "rootz": 0.5}, qvel={"rootx": 6.0})
    front, back = envs("cheetah-run-front"), envs("cheetah-run-back")
    assert reward_at(front, **state) > reward_at(back, **state)


@pytest.mark.parametrize(
    "rootz, speed, still", [(2.0, 0.0, 1.0), (2.0, 0.75, 0.5), (2.0, -1.5, 0.0), (0.0, 0.0, 1.0)]
)
def test_cheetah_jump(envs, rootz, speed, still):
    env = envs("cheetah-jump")
    reward = reward_at(env, qpos={"rootz": rootz}, qvel={"rootx": speed})
    torso = z(env, "torso")
    stands = [
        (5 * gauss_at_least((torso + z(env, foot)) / 2, 1.2, 0.6) + still) / 6
        for foot in ("bfoot", "ffoot")
    ]
    assert reward == pytest.approx(sum(stands) / 2)
    if rootz == 2.0:  # everything far above 1.2 m
        assert reward == pytest.approx((5 + still) / 6)


@pytest.mark.parametrize(
    "qpos, speed, expected",
    [
        ({}, -0.5, 0.5),
        ({}, -1.5, 1.0),
        ({}, 1.0, 0.0),
        ({"rooty": np.pi / 2}, -1.5, 0.0),  # lying down: torso not above the foot
    ],
)
def test_hopper_hop_backward(envs, qpos, speed, expected):
    env = envs("hopper-hop-backward")
    assert reward_at(env, qpos=qpos, qvel={"rootx": speed}) == pytest.approx(expected)


@pytest.mark.parametrize(
    "name, radius", [("reacher-three-easy", 0.05), ("reacher-three-hard", 0.015)]
)
def test_reacher_three_sparse_reward(envs, name, radius):
    env = envs(name)
    assert env.physics.named.model.geom_size["target", 0] == radius
    # Straight arm along +x: the fingertip is at 0.09 * 3 = 0.27.
    reach = radius + 0.01  # target radius + finger radius
    for offset, expected in [(reach - 1e-3, 1.0), (reach + 1e-3, 0.0)]:
        env.physics.named.model.geom_pos["target", :2] = [0.27 + offset, 0.0]
        assert reward_at(env) == expected


def test_reacher_three_joint_ranges():
    model = dmc_ext.load("reacher-three-easy").physics.named.model
    np.testing.assert_allclose(model.jnt_range["shoulder1"], np.radians([-80, 80]))
    np.testing.assert_allclose(model.jnt_range["wrist"], np.radians([-80, 80]))
    assert not model.jnt_limited["shoulder0"]


def test_cup_spin_reward(envs):
    env = envs("cup-spin")
    # Target centre (cup at z 0.6, site 0.05 below) is at xz (0, 0.55); the ball body rests
    # at z 0.2, so ball_x = 0.2, ball_z = 0.35 puts it 0.2 m beside the target.
    reward = reward_at(
        env, qpos={"ball_x": 0.2, "ball_z": 0.35}, qvel={"ball_x": 3.0, "ball_z": 4.0}
    )
    assert reward == pytest.approx((2 * 0.2 + 2 * 5 / 6) / 3)
    in_cup = reward_at(env, qpos={"ball_z": 0.35}, qvel={"ball_x": 30.0})
    assert in_cup == 0.0


def test_cup_spin_starts_mostly_in_the_cup():
    # Official: 92.5% of 200 resets start in the target (0.9 forced + 0.1 * P(random start in)).
    env = dmc_ext.load("cup-spin", seed=0)
    in_target = []
    for _ in range(60):
        env.reset()
        in_target.append(env.physics.in_target())
    assert 0.8 <= np.mean(in_target) < 1.0


@pytest.mark.parametrize(
    "omega, expected", [(0.0, 0.0), (4.5, 0.5), (-4.5, 0.5), (-9.0, 1.0), (13.0, 1.0)]
)
def test_pendulum_spin(envs, omega, expected):
    assert reward_at(envs("pendulum-spin"), qvel={"hinge": omega}) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["jumper-jump", "spinner-jump", "spinner-jump-four"])
@pytest.mark.parametrize(
    "height, expected", [(1.5, 1.0), (2.0, 1.0), (0.75, 0.1), (1.125, 0.1 ** 0.25)]
)
def test_jump_height_reward(envs, name, height, expected):
    env = envs(name)
    assert reward_at(env, qpos={"rootz": height - 0.9}) == pytest.approx(expected)  # torso at 0.9


def _spinner_com_and_inertia(physics):
    """Centre of mass of the whole spinner and its moment of inertia about y through it."""
    model, data = physics.model, physics.data
    mass = model.body_mass[1:]
    com = (mass[:, None] * data.xipos[1:]).sum(0) / mass.sum()
    inertia = 0.0
    for body in range(1, model.nbody):
        rotation = data.ximat[body].reshape(3, 3)
        inertia += (rotation @ np.diag(model.body_inertia[body]) @ rotation.T)[1, 1]
        offset = data.xipos[body] - com
        inertia += model.body_mass[body] * (offset[0] ** 2 + offset[2] ** 2)
    return com, inertia


def clip01(x):
    return min(max(x, 0.0), 1.0)


@pytest.mark.parametrize("suffix", ["", "-four"])
@pytest.mark.parametrize(
    "momentum, velocity", [(4.0, 4.0), (-8.0, -10.0), (0.0, 2.0), (12.0, -3.0)]
)
def test_spinner_spin_rewards(envs, suffix, momentum, velocity):
    forward, backward = envs(f"spinner-spin{suffix}"), envs(f"spinner-spin-backward{suffix}")
    reward_at(forward)
    com, inertia = _spinner_com_and_inertia(forward.physics)
    omega = momentum / inertia  # spinning the rigid body about y: L = I omega
    # The root hinge turns about the torso origin, which sits below/above the centre of mass,
    # so the centre of mass moves at velocity + omega * (com_z - torso_z) along x.
    speed = velocity + omega * (com[2] - z(forward, "torso"))
    state = dict(qvel={"rooty": omega, "rootx": velocity})
    # Positive L (rotation about +y) with positive x velocity is rolling forward.
    expected_forward = (2 * clip01(momentum / 8) + 3 * clip01(speed / 8)) / 5
    expected_backward = (2 * clip01(-momentum / 8) + 3 * clip01(-speed / 8)) / 5
    assert reward_at(forward, **state) == pytest.approx(expected_forward, rel=1e-6, abs=1e-9)
    assert reward_at(backward, **state) == pytest.approx(expected_backward, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    "name, angles",
    [("spinner-spin", [0, 72, 144, 216, 288]), ("spinner-spin-four", [0, 72, 144, 216])],
)
def test_spinner_models(name, angles):
    physics = dmc_ext.load(name).physics
    model = physics.named.model
    assert physics.model.nu == len(angles)
    assert model.body_subtreemass["torso"] == pytest.approx(2.0)
    for limb, angle in enumerate(angles):
        w, _, y, _ = model.body_quat[f"limb_{limb}"]  # rotation about y: (cos a/2, 0, sin a/2, 0)
        assert np.degrees(2 * np.arctan2(y, w)) % 360 == pytest.approx(angle, abs=1e-3)
        np.testing.assert_allclose(model.jnt_range[f"limb_{limb}"], np.radians([-35, 35]))
        assert model.actuator_gear[f"limb_{limb}", 0] == 100


@pytest.mark.parametrize(
    "rootz, speed, expected",
    [(0.0, 5.0, (3 * 0.5 + 1) / 4), (0.0, 12.0, 1.0), (-1.06, 5.0, 0.1 ** 0.64 * 2.5 / 4)],
)
def test_giraffe_run(envs, rootz, speed, expected):
    env = envs("giraffe-run")
    reward = reward_at(env, qpos={"rootz": rootz}, qvel={"rootx": speed})
    # Head origin: torso 0.7 + head offset 0.66 on the unbent neck = 1.36 (+ rootz).
    assert z(env, "head") == pytest.approx(1.36 + rootz)
    assert reward == pytest.approx(expected)


def test_giraffe_keeps_the_official_joint_ranges():
    model = dmc_ext.load("giraffe-run").physics.named.model
    np.testing.assert_allclose(model.jnt_range["bfoot"], np.radians([-230, 50]))
    np.testing.assert_allclose(model.jnt_range["fthigh"], np.radians([-57, 0.4]))
    assert model.body_subtreemass["torso"] == pytest.approx(16.0)


@pytest.mark.parametrize(
    "qpos, expected",
    [
        ({}, 1.0),
        ({"slider": 0.3}, 0.0),
        ({"hinge_1": 0.0998}, 1.0),  # cos = 0.99502 >= 0.995
        ({"hinge_1": 0.1002}, 0.0),
        ({"hinge_2": 0.2}, 0.0),  # second pole tilted: world zz = cos(0.2)
    ],
)
def test_cartpole_two_poles_sparse(envs, qpos, expected):
    assert reward_at(envs("cartpole-balance-two-poles-sparse"), qpos=qpos) == expected


def test_cartpole_long_pole():
    env = dmc_ext.load("cartpole-balance-long-sparse")
    model = env.physics.named.model
    assert model.geom_size["pole_1", 1] == pytest.approx(0.75)  # capsule half-length
    assert model.body_mass["pole_1"] == pytest.approx(0.2)
    env.reset()
    assert reward_at(env) == 1.0
    assert reward_at(env, qpos={"hinge_1": 0.2}) == 0.0


def test_through_make_env():
    env = make_env("cup-spin", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (8,)
    assert env.action_spec.shape == (2,)


@pytest.mark.slow
@pytest.mark.parametrize("name", dmc_ext.TASKS)
def test_full_random_episode(name):
    env = dmc_ext.load(name, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    steps = 0
    while True:
        time_step = env.step(rng.uniform(-1, 1, env.action_spec().shape))
        steps += 1
        assert 0.0 <= time_step.reward <= 1.0
        assert all(np.isfinite(v).all() for v in time_step.observation.values())
        if time_step.last():
            break
    assert steps == 1000
