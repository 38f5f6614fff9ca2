"""MJCF models of the DMControl-ext tasks.

Each function returns ``(xml, assets)`` as dm_control's ``Physics.from_xml_string`` takes them.
The new bodies (jumper, spinner, giraffe, three-link reacher) are our own files under
``assets/``; variants of dm_control's suite models (longer floors, an inclined floor, a longer
cartpole pole) are made by editing dm_control's own XML at load time, so they follow the
installed dm_control everywhere else.

Example:
    >>> from dm_control.suite import cheetah
    >>> from newt.envs.dmc_ext import models
    >>> physics = cheetah.Physics.from_xml_string(*models.jumper())
    >>> physics.model.nq, round(float(physics.model.body_subtreemass[1]), 3)
    (5, 2.0)
"""
from __future__ import annotations

import pathlib
from collections.abc import Callable

from dm_control import suite
from dm_control.suite import common
from lxml import etree

__all__ = [
    "ball_in_cup",
    "cartpole_long_pole",
    "cartpole_two_poles",
    "cheetah",
    "giraffe",
    "hopper",
    "jumper",
    "pendulum",
    "reacher_three",
    "spinner",
    "spinner_four",
    "walker_incline",
    "walker",
]

ASSETS_DIR = pathlib.Path(__file__).parent / "assets"

Model = tuple[bytes, dict]


def _own(filename: str) -> Model:
    return (ASSETS_DIR / filename).read_bytes(), common.ASSETS


def _edited(xml: bytes | str, edit: Callable[[etree._Element], None]) -> Model:
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    edit(root)
    return etree.tostring(root), common.ASSETS


def _set(root: etree._Element, xpath: str, **attributes: str) -> None:
    (element,) = root.findall(xpath)
    for key, value in attributes.items():
        element.set(key, value)


def walker() -> Model:
    """dm_control's planar walker with the floor drawn 500 m long instead of 250 m.

    Planes collide everywhere, so only rendering changes: the backward tasks stay on a
    visible floor (the official repository's walker copy does the same).
    """
    return _edited(
        common.read_model("walker.xml"),
        lambda root: _set(root, "./worldbody/geom[@name='floor']", size="500 .8 .2"),
    )


def walker_incline() -> Model:
    """dm_control's walker on a floor tilted about y by ~7.95 deg, rising towards +x.

    The normal (-0.139173, 0, 0.996195) is the official value (its file comment says about
    5 deg; MuJoCo normalises the vector, which gives 7.95 deg): surface height 0.1397 x.
    """
    return _edited(
        common.read_model("walker.xml"),
        lambda root: _set(
            root,
            "./worldbody/geom[@name='floor']",
            pos="0 0 0",
            size="500 .8 .2",
            zaxis="-0.139173 0 0.996195",
        ),
    )


def cheetah() -> Model:
    """dm_control's cheetah with the ground drawn 200 m long instead of 100 m (render only)."""
    return _edited(
        common.read_model("cheetah.xml"),
        lambda root: _set(root, "./worldbody/geom[@name='ground']", size="200 .8 .5"),
    )


def hopper() -> Model:
    """dm_control's hopper, unchanged."""
    return suite.hopper.get_model_and_assets()


def ball_in_cup() -> Model:
    """dm_control's ball-in-cup, unchanged."""
    return suite.ball_in_cup.get_model_and_assets()


def pendulum() -> Model:
    """dm_control's pendulum, unchanged."""
    return suite.pendulum.get_model_and_assets()


def cartpole_two_poles() -> Model:
    """dm_control's programmatic cartpole with two chained 1 m poles."""
    return suite.cartpole.get_model_and_assets(num_poles=2)


def cartpole_long_pole() -> Model:
    """dm_control's cartpole with a 1.5 m, 0.2 kg pole (instead of 1 m, 0.1 kg)."""
    return _edited(
        common.read_model("cartpole.xml"),
        lambda root: _set(
            root, "./default/default[@class='pole']/geom", fromto="0 0 0 0 0 1.5", mass=".2"
        ),
    )


def reacher_three() -> Model:
    """Three-link planar reacher (our ``assets/reacher_three.xml``)."""
    return _own("reacher_three.xml")


def jumper() -> Model:
    """Two-legged jumper (our ``assets/jumper.xml``)."""
    return _own("jumper.xml")


def spinner() -> Model:
    """Five-limb spinner (our ``assets/spinner.xml``)."""
    return _own("spinner.xml")


def spinner_four() -> Model:
    """The spinner without ``limb_4`` and its motor: limbs at 0, 72, 144, 216 deg.

    The official held-out model is made this way, so its limbs are unevenly spaced (a 144 deg
    gap between limb_3 and limb_0).
    """

    def drop_limb_4(root: etree._Element) -> None:
        for xpath in ("./worldbody/body/body[@name='limb_4']", "./actuator/motor[@name='limb_4']"):
            (element,) = root.findall(xpath)
            element.getparent().remove(element)

    return _edited((ASSETS_DIR / "spinner.xml").read_bytes(), drop_limb_4)


def giraffe() -> Model:
    """Giraffe runner (our ``assets/giraffe.xml``)."""
    return _own("giraffe.xml")
