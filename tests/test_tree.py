"""The engine's batched traversal is LibCST's, without rebuilding the tree."""

from pathlib import Path

import libcst as cst
import pytest

from tfgradfix.analysis.tree import BatchableVisitor, visit_batched

ROOT = Path(__file__).resolve().parent.parent


class _Recorder(BatchableVisitor):
    """Records every hook call, for every node type a rule could hook."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int]] = []


def _hook(kind: str, node_name: str):
    def hook(self, node):
        self.seen.append((kind, node_name, id(node)))
    return hook


for _name in dir(cst):
    _type = getattr(cst, _name)
    if isinstance(_type, type) and issubclass(_type, cst.CSTNode) and _type.__name__ == _name:
        setattr(_Recorder, f"visit_{_name}", _hook("visit", _name))
        setattr(_Recorder, f"leave_{_name}", _hook("leave", _name))

_SOURCES = sorted(ROOT.glob("fixtures/**/*.py")) + sorted(ROOT.glob("tfgradfix/**/*.py"))


@pytest.mark.parametrize("path", _SOURCES[::7], ids=lambda p: str(p.relative_to(ROOT)))
def test_same_hooks_in_the_same_order_as_libcst(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    ours, theirs = _Recorder(), _Recorder()
    visit_batched(module, [ours])
    # Batched visitors only read the tree; LibCST's visit hands them the original nodes.
    cst.visit_batched(module, [theirs])
    assert ours.seen == theirs.seen


def test_syntax_of_every_kind_is_walked_like_libcst():
    source = '''
@decorator(arg)
class A(Base, metaclass=M):  # comment
    x: int = 1
    def f(self, a, /, b=2, *args, c, **kw) -> "T":
        y = (lambda q: q)(a) if b else [i for i in args if i]
        with open(a) as h, open(b):
            pass
        try:
            del y
        except (E, F) as e:
            raise X from e
        else:
            z = {k: v for k, v in kw.items()}
        finally:
            assert a, "m"
        while a:
            a -= 1
        else:
            global G
        match a:
            case [1, *rest] | {"k": _} if rest:
                return f"{a!r:>{b}}"
        yield from b
        return a[1:2, ::3], {*args}, (yield)
'''
    module = cst.parse_module(source)
    ours, theirs = _Recorder(), _Recorder()
    visit_batched(module, [ours])
    cst.visit_batched(module, [theirs])
    assert ours.seen == theirs.seen
    assert len(ours.seen) > 400
    syntax = _Recorder()
    visit_batched(module, [syntax], syntax_only=True)
    assert syntax.seen == [s for s in theirs.seen if s[1] not in _WHITESPACE_AND_PUNCTUATION]


_WHITESPACE_AND_PUNCTUATION = {
    "SimpleWhitespace", "ParenthesizedWhitespace", "TrailingWhitespace", "EmptyLine", "Comment", "Newline",
    "LeftParen", "RightParen", "LeftSquareBracket", "RightSquareBracket", "LeftCurlyBrace", "RightCurlyBrace",
    "Comma", "Semicolon", "Dot", "Colon", "AssignEqual", "Asynchronous", "ImportStar",
}


@pytest.mark.parametrize("path", _SOURCES[::11], ids=lambda p: str(p.relative_to(ROOT)))
def test_syntax_only_walk_sees_every_syntax_node_in_order(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    ours, theirs = _Recorder(), _Recorder()
    visit_batched(module, [ours], syntax_only=True)
    cst.visit_batched(module, [theirs])
    assert ours.seen == [s for s in theirs.seen if s[1] not in _WHITESPACE_AND_PUNCTUATION]
