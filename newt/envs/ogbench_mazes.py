"""Maze layouts and start/goal task lists of the MMBench OGBench maze tasks.

A maze is a grid of cells, row ``i`` first, ``1`` = a wall block of ``4 x 4`` m. Cell ``(i, j)``
has its centre at ``x = 4 j - 4``, ``y = 4 i - 4``. A task is an ``(init cell, goal cell)`` pair;
each reset draws one uniformly. ``arena`` and ``medium`` walls are OGBench's own; the other
layouts are the ones Newt added (``var1`` and ``var2`` are held-out and have gaps in their
border).

Example:
    >>> from newt.envs.ogbench_mazes import maze_tasks
    >>> len(maze_tasks("bottleneck")), len(maze_tasks("arena")), maze_tasks("medium")[2]
    (312, 48, ((5, 3), (2, 4)))
"""
from __future__ import annotations

__all__ = ["LAYOUTS", "maze_tasks"]

#: Newt's extra 8x8 layouts (OGBench builds ``arena`` and ``medium`` itself).
LAYOUTS: dict[str, tuple[tuple[int, ...], ...]] = {
    "bottleneck": (
        (1, 1, 1, 1, 1, 1, 1, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 1, 1, 1, 1, 1, 1, 1),
    ),
    "circle": (
        (1, 1, 1, 1, 1, 1, 1, 1),
        (1, 1, 0, 0, 0, 0, 1, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 0, 1, 1, 1, 1, 0, 1),
        (1, 0, 1, 1, 1, 1, 0, 1),
        (1, 0, 0, 1, 1, 0, 0, 1),
        (1, 1, 0, 0, 0, 0, 1, 1),
        (1, 1, 1, 1, 1, 1, 1, 1),
    ),
    "spiral": (
        (1, 1, 1, 1, 1, 1, 1, 1),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (1, 0, 1, 0, 1, 1, 0, 1),
        (1, 0, 1, 0, 0, 0, 0, 1),
        (1, 0, 0, 0, 0, 1, 0, 1),
        (1, 0, 1, 1, 0, 1, 0, 1),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (1, 1, 1, 1, 1, 1, 1, 1),
    ),
    "var1": (
        (1, 1, 1, 1, 0, 0, 1, 1),
        (1, 1, 0, 0, 0, 0, 1, 1),
        (1, 0, 0, 0, 0, 0, 0, 0),
        (1, 0, 1, 1, 0, 1, 0, 0),
        (0, 0, 1, 0, 0, 1, 0, 1),
        (1, 0, 0, 0, 0, 0, 0, 0),
        (1, 1, 0, 0, 0, 0, 1, 1),
        (1, 1, 0, 1, 1, 1, 1, 1),
    ),
    "var2": (
        (0, 0, 1, 1, 0, 0, 1, 1),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (1, 0, 0, 1, 1, 0, 0, 0),
        (1, 0, 0, 0, 0, 0, 0, 1),
        (0, 0, 0, 0, 0, 0, 0, 1),
        (0, 0, 0, 1, 1, 0, 0, 0),
        (1, 0, 0, 1, 0, 0, 0, 1),
        (1, 1, 0, 1, 0, 0, 1, 1),
    ),
}

_BOTTLENECK_POINTS = (
    (1, 1), (1, 2), (2, 1), (2, 2), (5, 5), (5, 6), (6, 5), (6, 6), (1, 5), (2, 5),
    (1, 6), (2, 6), (5, 1), (6, 1), (5, 2), (6, 2), (3, 3), (3, 4), (4, 3), (4, 4),
)  # fmt: skip
_CIRCLE_POINTS = (
    (2, 1), (1, 2), (2, 2), (3, 1), (1, 3), (4, 1), (5, 1), (5, 2), (6, 2), (6, 3),
    (6, 4), (6, 5), (5, 5), (5, 6), (4, 6), (1, 4), (1, 5), (2, 5), (2, 6), (3, 6),
)  # fmt: skip
_SPIRAL_POINTS = (
    (1, 1), (1, 2), (2, 1), (1, 6), (2, 6), (1, 5), (6, 1), (6, 2), (5, 1), (6, 6),
    (5, 6), (6, 5), (3, 3), (3, 4), (4, 3), (4, 4),
)  # fmt: skip
_POINTS = {
    "bottleneck": _BOTTLENECK_POINTS,
    "var2": _BOTTLENECK_POINTS,
    "circle": _CIRCLE_POINTS,
    "var1": _CIRCLE_POINTS,
    "spiral": _SPIRAL_POINTS,
}
# OGBench's five medium tasks with task 3's goal and task 4's start moved, plus five more.
_MEDIUM_TASKS = (
    ((1, 1), (6, 6)),
    ((6, 1), (1, 6)),
    ((5, 3), (2, 4)),
    ((2, 2), (6, 1)),
    ((2, 6), (1, 1)),
    ((2, 1), (4, 5)),
    ((6, 5), (4, 6)),
    ((2, 2), (4, 4)),
    ((6, 1), (2, 1)),
    ((6, 3), (3, 3)),
)

Cell = tuple[int, int]


def _manhattan(a: Cell, b: Cell) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def maze_tasks(maze: str) -> tuple[tuple[Cell, Cell], ...]:
    """The ``(init cell, goal cell)`` pairs a reset of ``maze`` draws from.

    ``arena``: start and goal range over the central 3x3 cells, at Manhattan distance >= 2.
    ``medium``: the ten fixed tasks. Other layouts: every ordered pair of the layout's points at
    Manhattan distance >= 3.
    """
    if maze == "medium":
        return _MEDIUM_TASKS
    if maze == "arena":
        cells = [(i, j) for i in range(2, 5) for j in range(2, 5)]
        return tuple((a, b) for a in cells for b in cells if _manhattan(a, b) >= 2)
    if maze not in _POINTS:
        raise ValueError(f"Unknown maze {maze!r}; expected one of {['arena', 'medium', *_POINTS]}.")
    points = _POINTS[maze]
    return tuple((a, b) for a in points for b in points if _manhattan(a, b) >= 3)
