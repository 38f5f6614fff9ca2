"""Griffe extension for the API pages: adapt newt's docstrings to Google-style rendering.

* ``Example:`` sections are read as ``Examples:``: newt's docstrings use both spellings of the
  header (as Napoleon accepts), and griffe only parses the plural one as code examples, so the
  singular one would render the ``>>>`` lines as quoted prose.
* Sphinx cross-reference roles (``:class:`~newt.modules.NewtWorldModel```) become inline code
  (``NewtWorldModel``) instead of showing their raw markup.
"""
import re

from griffe import Extension, Object

_SINGULAR_HEADER = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|obj|exc):`(~?)([^`]+)`")


def _role_to_code(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class NewtDocstrings(Extension):
    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None:
            text = _SINGULAR_HEADER.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _SPHINX_ROLE.sub(_role_to_code, text)
