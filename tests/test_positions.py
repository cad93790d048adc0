"""Findings are placed by `positions.NodePositions`, which records positions only in the
top-level chunks holding the nodes asked for: every position must be LibCST's own."""

from __future__ import annotations

import random

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from conftest import FIXTURES
from tfgradfix.positions import NodePositions

TRICKY = [
    "# header comment\n\nx = 1\r\ny = 2  # noqa: TGF101\r\n# footer\r\n",
    "@dec\n# between\n@dec2(\n    1)\ndef f():\n    pass\n    # inner footer\n# outer\nz = (\n  3)",
    "a = 1; b = 2  # noqa: TGF101\n\n\n# the end, no newline",
    "class A:\n    def f(self):\n        return '''x\ny'''  # c\n\n\nif True:\n\tpass\n",
    "\n\n",
]


def _texts():
    paths = sorted(FIXTURES.glob("TGF*/*.py"))[::7]
    return [p.read_text(encoding="utf-8") for p in paths] + TRICKY


@pytest.mark.parametrize("text", _texts())
def test_positions_are_libcsts(text):
    module = cst.parse_module(text)
    reference = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = [node for node in reference if node is not module]
    everything = NodePositions(module, nodes)
    assert [everything[n] for n in nodes] == [reference[n] for n in nodes]
    some = random.Random(len(text)).sample(nodes, min(4, len(nodes)))
    few = NodePositions(module, some, ["A.f", None, "nothing"])
    assert [few[n] for n in some] == [reference[n] for n in some]


def test_a_node_of_another_module_falls_back_to_libcst_and_fails_as_it_does():
    module = cst.parse_module("x = 1\n")
    stranger = cst.parse_module("y = 2\n").body[0]
    with pytest.raises(KeyError):
        NodePositions(module, [stranger])[stranger]
