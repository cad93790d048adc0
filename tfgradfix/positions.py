"""Where a few nodes of a module are, without LibCST's `PositionProvider` over all of it.

`PositionProvider` records a position for every node of the module during a codegen of the
whole module: on a large file that was the largest single cost of a check (about twice the
parse), though only the nodes of the findings and of the `noqa` comments need one. Here the
module is cut into its top-level chunks (header lines, statements, footer lines): the line
each chunk starts on comes from a plain codegen of the chunks before it (a tenth of the
position-recording one), and positions are recorded, with LibCST's own codegen state, only
in the chunks that hold a node asked for. The positions are LibCST's (tested node for node
against `PositionProvider`); a node not found in any chunk falls back to it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Optional, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

# Line ends as LibCST's codegen state counts them.
_NEWLINE = re.compile(r"\r\n?|\n")
_FIELDS: dict[type, tuple[str, ...]] = {}


def _all_fields(node_type: type) -> tuple[str, ...]:
    names = _FIELDS.get(node_type)
    if names is None:
        names = _FIELDS[node_type] = tuple(f.name for f in dataclasses.fields(node_type))
    return names


def _ids(node: cst.CSTNode) -> set[int]:
    """The ids of the node and of every node under it, whitespace and comments included."""
    found: set[int] = set()
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        found.add(id(current))
        for name in _all_fields(type(current)):
            value = getattr(current, name)
            if isinstance(value, (list, tuple)):
                stack.extend(item for item in value if isinstance(item, cst.CSTNode))
            elif isinstance(value, cst.CSTNode):
                stack.append(value)
    return found


def _defines(chunk: cst.CSTNode) -> Optional[str]:
    if isinstance(chunk, (cst.ClassDef, cst.FunctionDef)):
        return chunk.name.value
    return None


class NodePositions:
    """`positions[node]`: the `CodeRange` LibCST's `PositionProvider` gives the node, for
    the nodes given (and any other node of the chunks that hold them). `hints`: names of
    top-level classes or functions (a finding's symbol, `Layer.call`) where those nodes
    probably are, searched first."""

    def __init__(self, module: cst.Module, nodes: Iterable[cst.CSTNode], hints: Iterable[Optional[str]] = ()) -> None:
        self.module = module
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        wanted = {id(node): node for node in nodes}
        if not wanted:
            return
        chunks: Sequence[cst.CSTNode] = [*module.header, *module.body, *module.footer]
        first = {(h or "").split(".")[0] for h in hints}
        order = sorted(range(len(chunks)), key=lambda i: _defines(chunks[i]) not in first)
        holding: set[int] = set()
        for index in order:
            if not wanted:
                break
            inside = _ids(chunks[index]) & wanted.keys()
            if inside:
                holding.add(index)
                for key in inside:
                    del wanted[key]
        if wanted:  # not under any chunk (cannot happen for nodes of this module): LibCST's way
            self._computed = dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
            return
        provider = PositionProvider()
        line = 1
        for index, chunk in enumerate(chunks):
            if index > max(holding):
                break
            if index in holding:
                state = PositionProvidingCodegenState(default_indent=module.default_indent,
                                                      default_newline=module.default_newline,
                                                      provider=provider, line=line, column=0)
                chunk._codegen(state)
                code = "".join(state.tokens)
            else:
                code = module.code_for_node(chunk)
            line += len(_NEWLINE.findall(code))
        self._computed = provider._computed

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        return self._computed[node]
