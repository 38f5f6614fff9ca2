"""Play a MiniArcade game with the keyboard, or record a random-policy clip.

Usage::

    python -m newt.envs.miniarcade play pygame-pong
    python -m newt.envs.miniarcade record pygame-pong out.gif --steps 200
    python -m newt.envs.miniarcade record pygame-pong frame.png --steps 30

``play`` maps the arrow keys (and space) to the action; ``record`` works headless.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from newt.envs.miniarcade import GAMES, make_game
from newt.envs.registry import task_info

#: Keys that push each action component to -1 and to +1, per task (default: by action width).
KEYMAP: dict[str, tuple[tuple[frozenset, frozenset], ...]] = {
    "pygame-cowboy": ((frozenset(), frozenset({"space", "up"})),),
    "pygame-coinrun": ((frozenset(), frozenset({"space", "up"})),),
    "pygame-pong": ((frozenset({"up"}), frozenset({"down"})),),
    "pygame-bird-attack": ((frozenset({"left"}), frozenset({"right"})), (frozenset(), frozenset({"space", "up"}))),
}
_HORIZONTAL = (frozenset({"left"}), frozenset({"right"}))
_VERTICAL = (frozenset({"up"}), frozenset({"down"}))
#: pygame key constant names of the keys used in :data:`KEYMAP`.
KEY_NAMES = {"left": "K_LEFT", "right": "K_RIGHT", "up": "K_UP", "down": "K_DOWN", "space": "K_SPACE"}


def key_action(task: str, pressed: set[str]) -> np.ndarray:
    """The action for the set of pressed key names (``"left"``, ``"right"``, ``"up"``, ...).

    Example:
        >>> key_action("pygame-pong", {"down"}).tolist()
        [1.0]
        >>> key_action("pygame-landing", {"left", "up"}).tolist()
        [-1.0, -1.0]
    """
    mapping = KEYMAP.get(task)
    if mapping is None:
        mapping = (_HORIZONTAL, _VERTICAL)[: task_info(task).action_dim]
    action = np.zeros(len(mapping), np.float32)
    for i, (negative, positive) in enumerate(mapping):
        action[i] = float(bool(pressed & positive)) - float(bool(pressed & negative))
    return action


def record(task: str, path: str, steps: int, seed: int) -> None:
    """Write a random-policy clip (``.gif``/``.mp4``: every frame) or the frame after ``steps`` (``.png``)."""
    import imageio.v3 as iio

    game = make_game(task, num_envs=1, seed=seed)
    policy = np.random.default_rng(seed)
    game.reset()
    still = path.lower().endswith((".png", ".jpg", ".jpeg"))
    frames = [] if still else [game.draw(0)]
    for _ in range(steps):
        game.step(policy.uniform(-1, 1, (1, game.action_dim)).astype(np.float32))
        if not still:
            frames.append(game.draw(0))
    if still:
        iio.imwrite(path, game.draw(0))
    else:
        iio.imwrite(path, np.stack(frames), duration=33, loop=0)


def play(task: str, seed: int, scale: int) -> None:  # pragma: no cover - needs a display
    """Open a window and play ``task`` with the keyboard at 30 steps per second (Esc quits)."""
    from newt.envs.miniarcade.core import import_pygame

    pygame = import_pygame()
    pygame.init()
    game = make_game(task, num_envs=1, seed=seed)
    size = game.frame_size * scale
    screen = pygame.display.set_mode((size, size))
    pygame.display.set_caption(task)
    clock = pygame.time.Clock()
    length = task_info(task).episode_length
    game.reset()
    steps, episode_return = 0, 0.0
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                pygame.quit()
                return
        keys = pygame.key.get_pressed()
        pressed = {name for name, const in KEY_NAMES.items() if keys[getattr(pygame, const)]}
        _, reward, _ = game.step(key_action(task, pressed)[None])
        episode_return += float(reward[0])
        steps += 1
        if steps >= length:
            print(f"episode return {episode_return:.2f}")
            game.reset()
            steps, episode_return = 0, 0.0
        frame = pygame.surfarray.make_surface(game.draw(0).transpose(1, 0, 2))
        screen.blit(pygame.transform.scale(frame, (size, size)), (0, 0))
        pygame.display.flip()
        clock.tick(30)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m newt.envs.miniarcade", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("play", help="play a game with the keyboard")
    p.add_argument("task", choices=sorted(GAMES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=3, help="window size as a multiple of 224")
    r = commands.add_parser("record", help="record a random-policy clip (.gif/.mp4) or one frame (.png)")
    r.add_argument("task", choices=sorted(GAMES))
    r.add_argument("output")
    r.add_argument("--steps", type=int, default=None, help="steps to run (default: 100 for clips, 30 for a frame)")
    r.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "play":
        play(args.task, args.seed, args.scale)
    else:
        still = args.output.lower().endswith((".png", ".jpg", ".jpeg"))
        steps = args.steps if args.steps is not None else (30 if still else 100)
        record(args.task, args.output, steps, args.seed)


if __name__ == "__main__":
    sys.exit(main())
