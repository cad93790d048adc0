"""One module read into a `ModuleInfo` from Python's `ast`: its imports, classes,
functions, calls and outline; no disk, no other module."""

from __future__ import annotations

import ast
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from tfgradfix.analysis.imports import canonical
from tfgradfix.analysis.initializers import is_initializer_constructor
from tfgradfix.analysis.keras import FORWARD_METHODS, SEEDED_LAYERS, HeldState, state_made_by
from tfgradfix.analysis.project.model import BUILTIN_BASES, ClassInfo, FunctionInfo, ModuleInfo, given_arguments
from tfgradfix.analysis.roles import state_attributes_of, trained_by_name
from tfgradfix.analysis.slices import outline
from tfgradfix.analysis.vocabulary import (
    OWN_GRADIENT_DECORATORS, OWN_GRADIENT_KEYWORDS, TAPE_CONSTRUCTORS, VARIABLE_CONSTRUCTORS,
)


def index_module(name: str, path: str, text: str) -> ModuleInfo:
    """What one module defines and imports, from `ast`."""
    info = ModuleInfo(name=name, path=path, is_package=Path(path).name == "__init__.py")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        info.parsed = False
        info.starts_path = True  # LibCST names the error
        return info
    _Indexer(info).run(tree)
    if "gradient(" in text or "minimize(" in text:
        info.trained_by_name = trained_by_name(tree)
    info.outline, info.checksum = outline(tree), checksum(text)
    return info


def checksum(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


# Calls that put a folder on the import path, as scripts of research code do.
_SYS_PATH_ADDS = frozenset({"sys.path.append", "sys.path.insert"})

# Names whose use in code can start a gradient path outside a Keras class.
_PATH_STARTS = frozenset({"GradientTape", "Lambda"})


def _hands_loss(call: ast.Call) -> bool:
    """`model.compile(loss=fn)`: a loss function of the module runs on the model's outputs;
    `opt.minimize(loss_fn, var_list)`: the optimizer runs `loss_fn()` under its own tape."""
    if not isinstance(call.func, ast.Attribute):
        return False
    if call.func.attr == "minimize":
        loss = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "loss"), None)
        return isinstance(loss, (ast.Name, ast.Attribute, ast.Lambda, ast.Call)) and (
            len(call.args) > 1 or any(k.arg == "var_list" for k in call.keywords))
    return (call.func.attr == "compile"
            and any(k.arg == "loss" and not isinstance(k.value, ast.Constant) for k in call.keywords))


_Scope = Union[ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]


class _Indexer:
    """One walk over the module: each node is visited once, in source order (imports
    before the code that uses them), nested definitions with their own prefix."""

    def __init__(self, info: ModuleInfo) -> None:
        self.info = info
        self.stars: list[str] = []
        self.starts_path = False
        self.keras_names = {"Layer", "Model", "Sequential"}
        self.class_nodes: list[tuple[str, ast.ClassDef]] = []
        self.calls: list[tuple[str, str]] = []
        self.by_hand: list[str] = []
        self.used_through: list[tuple[str, frozenset[str]]] = []
        self.type_tested: set[str] = set()
        self.attribute_reads: set[str] = set()
        self.search_paths: list[str] = []
        self.handed: list[tuple[str, str, str]] = []
        self._makes_initializer: dict[str, bool] = {}  # functions that construct an initializer
        self._weights: dict[str, set[str]] = {}  # class -> weights its methods assign
        self._classes: list[tuple[ClassInfo, set[str]]] = []  # classes being indexed, and their parts
        # Parameters of the `__init__` being indexed that default to zero: name -> position after `self`.
        self._zero_defaults: Optional[dict[str, int]] = None
        self._bound_once: set[str] = set()  # module-level names bound by one statement

    def run(self, tree: ast.Module) -> None:
        bound = Counter(name for stmt in tree.body for name in _assigned_names(stmt))
        names = set(bound)
        self._bound_once = {name for name, count in bound.items() if count == 1}
        self._body(tree.body, "", None, None)
        self.info.star_imports = tuple(self.stars)
        self.info.names = frozenset(names)
        known = set(self.info.imports) | set(self.info.functions) | set(self.info.classes)
        self.info.calls = tuple(
            (dotted, symbol) for dotted, symbol in self.calls
            if dotted.split(".")[0] in known or (self.stars and "." not in dotted))
        self.info.called_by_hand = tuple(d for d in self.by_hand if d.split(".")[0] in known)
        self.info.used_through = tuple(u for u in self.used_through if u[0].split(".")[0] in known)
        self.info.type_tested = tuple(sorted(self.type_tested))
        self.info.attribute_reads = frozenset(self.attribute_reads)
        self.info.search_paths = tuple(self.search_paths)
        self.info.handed = tuple(
            h for h in self.handed if h[0].split(".")[0] in known and h[2].split(".")[0] in known)
        self.info.starts_path = self.starts_path
        self.info.forward_classes = tuple(
            name for name, _ in self.class_nodes
            if any(method in self.info.classes[name].methods for method in FORWARD_METHODS))
        # `tf.keras.layers.Conv1D` looks like Keras through its path, whatever the class is called.
        self.info.keras_looking = tuple(
            name for name, node in self.class_nodes
            if any((n.attr if isinstance(n, ast.Attribute) else n.id) in self.keras_names
                   or (isinstance(n, ast.Attribute) and n.attr in ("keras", "layers"))
                   for base in node.bases for n in ast.walk(base) if isinstance(n, (ast.Attribute, ast.Name))))

    def _search_path(self, call: ast.Call) -> None:
        """`sys.path.append("utils")`, `sys.path.insert(0, "../lib")`: a literal folder."""
        folder = call.args[-1] if call.args else None
        if isinstance(folder, ast.Constant) and isinstance(folder.value, str) and folder.value.strip():
            self.search_paths.append(folder.value)

    def _body(self, body: list[ast.stmt], prefix: str, owner: Optional[ast.ClassDef],
              function: Optional[FunctionInfo], weights: Optional[set[str]] = None) -> dict[str, str]:
        """Index the nodes of a body (a module's, a class's or a function's); returns the
        nested definitions it holds: name -> qualified name."""
        nested: dict[str, str] = {}
        symbol = function.name if function is not None else "<module>"
        # Node kinds compared by type (`ast` classes have no subclasses): this loop sees
        # every node of every module, most of them names and attributes. mypy does not
        # narrow on `type(node) is`, hence `Any`.
        node: Any
        uses = _UsesThrough() if owner is None else None  # a module's or a function's names, not a class's
        for node in _own_nodes(body):
            kind = type(node)
            if uses is not None and kind in _USES_SEEN:
                uses.see(node, kind)
            if kind is ast.Name:
                if node.id in _PATH_STARTS:
                    self.starts_path = True
            elif kind is ast.Attribute:
                if node.attr in _PATH_STARTS:
                    self.starts_path = True
                if type(node.ctx) is ast.Load and not (type(node.value) is ast.Name and node.value.id == "self"):
                    self.attribute_reads.add(node.attr)  # off an object, not the module's own class's `self`
            elif kind is ast.Call:
                dotted = _dotted(node.func)
                func = node.func
                if dotted in ("type", "isinstance") and node.args and isinstance(node.args[0], ast.Attribute):
                    self.type_tested.add(node.args[0].attr)
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
                    made = _dotted(func.value.func)  # `Block(...).call(net)`, `Net(...).model()`
                    if made is not None:
                        if func.attr == "call":
                            self.by_hand.append(made)
                        else:
                            self.used_through.append((made, frozenset({func.attr})))
                if dotted is not None:
                    self.calls.append((dotted, symbol))
                    self._handed_arguments(node, dotted)
                    if function is None and owner is None and dotted in _SYS_PATH_ADDS:
                        self._search_path(node)
                if function is not None:
                    self._call(node, function)
                if self._classes:
                    self._state_call(node, dotted)
                self.starts_path = self.starts_path or _hands_loss(node)
            elif kind is ast.Import:
                self._import(node)
            elif kind is ast.ImportFrom:
                self._import_from(node)
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                nested[node.name] = f"{prefix}{node.name}"
                self._function(node, prefix, owner if function is None else None)
            elif kind is ast.ClassDef:
                nested[node.name] = f"{prefix}{node.name}"
                self._class(node, prefix)
            elif self._classes and kind is ast.Assign and _is_constant(node.value, False) and any(
                    isinstance(t, ast.Attribute) and t.attr == "trainable" for t in node.targets):
                self._classes[-1][0].holds_state = HeldState.WEIGHTS  # `part.trainable = False`
            elif function is None:
                if not prefix and kind is ast.Assign:
                    self._alias(node)
                continue
            elif kind is ast.With or kind is ast.AsyncWith:
                for item in node.items:
                    expr = item.context_expr
                    if isinstance(expr, ast.Call) and self._resolve(expr.func) in TAPE_CONSTRUCTORS:
                        function.holds_tape = True
            elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
                function.returns_numpy = function.returns_numpy or (
                    self._resolve(node.value.func) or "").startswith("numpy.")
            elif weights is not None and isinstance(node, (ast.Assign, ast.AnnAssign)):
                weights.update(self._weight_targets(node))
        if uses is not None:
            self.used_through += uses.found()
        return nested

    # imports

    def _import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.info.imports[alias.asname] = alias.name
            else:
                # `import a.b` binds `a`; `a.b.f` then resolves through it.
                head = alias.name.split(".")[0]
                self.info.imports.setdefault(head, head)

    def _import_from(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module, node.level)
        if base is None:
            return
        if node.module and "keras" in node.module:
            self.keras_names.update(a.asname or a.name for a in node.names)
        for alias in node.names:
            if alias.name == "*":
                self.stars.append(base)
                continue
            self.info.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name

    def _absolute(self, module: Optional[str], level: int) -> Optional[str]:
        return absolute_module(self.info.name, self.info.is_package, module, level)

    def _alias(self, node: ast.Assign) -> None:
        """`keras = tf.keras`, `Layer = keras.layers.Layer`: a module-level name bound once to
        what an imported name refers to is that name (as `analysis/imports.py` reads it)."""
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        name = node.targets[0].id
        if name in self.info.imports or name not in self._bound_once or _dotted(node.value) is None:
            return
        full = self._resolve(node.value)
        if full is not None:
            self.info.imports[name] = full

    def _resolve(self, node: ast.expr) -> Optional[str]:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        full = self.info.imports.get(head)
        if full is None:
            return None
        return canonical(f"{full}.{rest}") if rest else canonical(full)

    # definitions

    def _class(self, node: ast.ClassDef, prefix: str) -> None:
        name = f"{prefix}{node.name}"
        self.class_nodes.append((name, node))
        bases = []
        for base in node.bases:
            dotted = _dotted(base)
            if dotted is None:
                continue
            full = self._resolve(base)
            if full is None and dotted not in BUILTIN_BASES:
                # Defined in this module (maybe further down) or brought in by `import *`.
                full = f"{self.info.name}.{dotted}"
            bases.append(full if full is not None else dotted)
        weights: set[str] = set()
        cls = ClassInfo(self.info.name, name, node.lineno, tuple(bases))
        self.info.classes[name] = cls
        parts: set[str] = set()
        self._classes.append((cls, parts))
        methods = self._body(node.body, f"{name}.", node, None, weights)
        self._classes.pop()
        cls.parts = tuple(sorted(parts - {f"{self.info.name}.{name}"}))
        cls.methods = tuple(m for m in methods if f"{name}.{m}" in self.info.functions)
        cls.weights = frozenset(self._weights.pop(name, ())) | frozenset(weights)
        cls.state = state_attributes_of(node, FORWARD_METHODS, self._resolve) & cls.weights

    def _function(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef], prefix: str,
                  owner: Optional[ast.ClassDef]) -> None:
        name = f"{prefix}{node.name}"
        args = node.args
        info = FunctionInfo(
            module=self.info.name, name=name, line=node.lineno, end_line=node.end_lineno or node.lineno,
            positional=tuple(a.arg for a in [*args.posonlyargs, *args.args]),
            keyword_only=tuple(a.arg for a in args.kwonlyargs),
            star_arg=args.vararg.arg if args.vararg else None,
            star_kwarg=args.kwarg.arg if args.kwarg else None,
            is_method=owner is not None,
            own_gradient=any(self._resolve(d.func if isinstance(d, ast.Call) else d) in OWN_GRADIENT_DECORATORS
                             or (isinstance(d, ast.Call) and any(k.arg in OWN_GRADIENT_KEYWORDS for k in d.keywords)
                                 and (self._resolve(d.func) or "").startswith("tensorflow."))
                             for d in node.decorator_list),
        )
        self.info.functions[name] = info
        weights: Optional[set[str]] = set() if owner is not None else None
        outer = self._zero_defaults
        self._zero_defaults = _zero_defaults(node) if owner is not None and node.name == "__init__" else None
        nested = self._body(node.body, f"{name}.", None, info, weights)
        self._zero_defaults = outer
        # A functional model's builder (`return Model(inputs, self.call(inputs))`), not a method
        # that runs `self.call` by hand on every step or only summarises the model.
        info.runs_own_call = info.runs_own_call and self._returns_keras_model(node.body)
        if weights:
            self._weights.setdefault(prefix[:-1], set()).update(weights)
        if self._makes_initializer.pop(name, False):
            info.returns_initialized = _returns_initialized(node, self._resolve)
        info.returns_shape = _returns_shape(node)
        info.returns_closures = tuple(
            nested[n.value.id] for n in _own_nodes(node.body)
            if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id in nested
        ) if nested else ()

    def _returns_keras_model(self, body: list[ast.stmt]) -> bool:
        """Some `return keras.Model(...)`, or a return of a name bound to one."""
        def is_model(value) -> bool:
            resolved = self._resolve(value.func) if type(value) is ast.Call else None
            return resolved is not None and resolved.startswith(_KERAS_ROOTS) and resolved.rsplit(".", 1)[-1] == "Model"
        nodes = list(_own_nodes(body))
        models = {t.id for n in nodes if type(n) is ast.Assign and is_model(n.value) for t in n.targets
                  if type(t) is ast.Name}
        return any(type(n) is ast.Return and n.value is not None and (
            is_model(n.value) or (type(n.value) is ast.Name and n.value.id in models)) for n in nodes)

    def _handed_arguments(self, call: ast.Call, dotted: str) -> None:
        """Names passed as arguments that may be functions (resolved when asked: `run()` keeps
        those naming what the module defines or imports)."""
        for index, arg in enumerate(call.args):
            if type(arg) is ast.Starred:
                break
            passed = _dotted(arg) if type(arg) in (ast.Name, ast.Attribute) else None
            if passed is not None:
                self.handed.append((dotted, str(index), passed))
        for keyword in call.keywords:
            value = keyword.value
            passed = _dotted(value) if keyword.arg is not None and type(value) in (ast.Name, ast.Attribute) else None
            if passed is not None:
                assert keyword.arg is not None
                self.handed.append((dotted, keyword.arg, passed))

    def _call(self, call: ast.Call, info: FunctionInfo) -> None:
        func = call.func
        resolved = self._resolve(func) or ""
        if "nitializer" in resolved and is_initializer_constructor(resolved):
            self._makes_initializer[info.name] = True
        if resolved in VARIABLE_CONSTRUCTORS or (isinstance(func, ast.Attribute) and func.attr == "add_weight"):
            info.creates_variables = True
        if info.is_method and isinstance(func, ast.Attribute) and func.attr == "call" \
                and isinstance(func.value, ast.Name) and func.value.id == "self":
            info.runs_own_call = True  # with a Keras `Model(...)` in the same method: see `_function`
        if resolved.startswith("numpy.") or (
                isinstance(func, ast.Attribute) and func.attr == "numpy" and not call.args):
            info.calls_numpy = True

    def _state_call(self, call: ast.Call, dotted: Optional[str]) -> None:
        """What a call in the body of the class being indexed says about its state."""
        cls, parts = self._classes[-1]
        if cls.holds_state is HeldState.WEIGHTS:
            return
        for keyword in call.keywords:
            if keyword.arg == "trainable" and _is_constant(keyword.value, False):
                cls.holds_state = HeldState.WEIGHTS
                return
        if dotted is None or not dotted.rsplit(".", 1)[-1][:1].isupper():
            return  # classes, by convention, are capitalised: functions are not followed
        resolved = self._resolve(call.func)
        part = None
        if resolved is None:
            if "." not in dotted:
                part = f"{self.info.name}.{dotted}"  # a class of this module
        elif resolved.startswith(("tensorflow.", "keras.", "tf_keras.", "numpy.")):
            if resolved.rsplit(".", 1)[-1] in SEEDED_LAYERS:
                rate = _seed_rate(call)
                if rate is not None and _is_zero(rate):
                    return  # `Dropout(0.)`: Keras 3 makes no seed generator
                if isinstance(rate, ast.Name) and self._zero_defaults and rate.id in self._zero_defaults:
                    cls.seed_rates = (*cls.seed_rates, (rate.id, self._zero_defaults[rate.id]))
                    return
            cls.holds_state = max(cls.holds_state, state_made_by(resolved))
        else:
            part = resolved
        if part is not None:
            parts.add(part)
            given = dict(cls.part_arguments)
            given[part] = given.get(part, frozenset()) | given_arguments(call)
            cls.part_arguments = tuple(given.items())

    def _weight_targets(self, node: Union[ast.Assign, ast.AnnAssign]) -> Iterator[str]:
        """`self.x` assigned from add_weight / tf.Variable."""
        if not isinstance(node.value, ast.Call):
            return
        func = node.value.func
        if not ((isinstance(func, ast.Attribute) and func.attr == "add_weight")
                or self._resolve(func) in VARIABLE_CONSTRUCTORS):
            return
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                yield target.attr


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_AST_FIELDS: dict[type, tuple[str, ...]] = {}


# Nodes the index never looks at and that hold nothing it does (a third of all nodes).
_LEAVES = frozenset({ast.Constant, *(c for base in (ast.operator, ast.cmpop, ast.unaryop, ast.boolop,
                                                     ast.expr_context) for c in base.__subclasses__())})


_KERAS_ROOTS = ("keras.", "tensorflow.keras.", "tf_keras.", "tensorflow.python.keras.")


_USES_SEEN = frozenset({ast.Assign, ast.Name, ast.Call})


class _UsesThrough:
    """Names a body binds once to a call (`esmm = ESMM(...)`) and reads only to call their
    methods (`esmm.build_graph()`), seen node by node in the indexer's one walk of the body."""

    def __init__(self) -> None:
        self.made: dict[str, list[Optional[str]]] = {}
        self.reads: Counter = Counter()
        self.methods: dict[str, set[str]] = {}
        self.through: Counter = Counter()

    def see(self, node: Any, kind: type) -> None:
        if kind is ast.Assign:
            for target in node.targets:
                if type(target) is ast.Name:
                    self.made.setdefault(target.id, []).append(
                        _dotted(node.value.func) if type(node.value) is ast.Call else None)
        elif kind is ast.Name:
            self.reads[node.id] += 1
        elif kind is ast.Call and type(node.func) is ast.Attribute and type(node.func.value) is ast.Name:
            self.methods.setdefault(node.func.value.id, set()).add(node.func.attr)
            self.through[node.func.value.id] += 1

    def found(self) -> list[tuple[str, frozenset[str]]]:
        """What made each such name, and the methods called on it."""
        # The walk yields assignment targets among the names: one of the reads is the binding.
        return [(calls[0], frozenset(self.methods[name])) for name, calls in self.made.items()
                if len(calls) == 1 and calls[0] is not None and self.through[name]
                and self.reads[name] - 1 == self.through[name]]


def _own_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Nodes of a body in source order, nested definitions yielded but not entered
    (and without constants, operators and `ctx` markers)."""
    stack: list[ast.AST] = list(reversed(body))
    leaves = _LEAVES
    while stack:
        node = stack.pop()
        yield node
        kind = type(node)
        fields = _AST_FIELDS.get(kind)
        if fields is None:
            fields = _AST_FIELDS[kind] = () if issubclass(kind, _DEFINITIONS) else tuple(
                f for f in kind._fields if f != "ctx")
        children: list[ast.AST] = []
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                children.extend(v for v in value if isinstance(v, ast.AST) and type(v) not in leaves)
            elif value is not None and type(value) not in leaves and isinstance(value, ast.AST):
                children.append(value)
        if children:
            children.reverse()
            stack.extend(children)


def _returns_initialized(node: Union[ast.FunctionDef, ast.AsyncFunctionDef], resolve) -> bool:
    """Every `return` of the function calls an initializer object: `return init(shape)` with
    `init = GlorotUniform()` bound once, or `return GlorotUniform()(shape)`."""
    bound: dict[str, list[ast.expr]] = {}
    returns: list[Optional[ast.expr]] = []
    for child in _own_nodes(node.body):
        if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
            bound.setdefault(child.targets[0].id, []).append(child.value)
        elif isinstance(child, ast.Return):
            returns.append(child.value)

    def initializer(expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            values = bound.get(expr.id, [])
            return len(values) == 1 and initializer(values[0])
        return isinstance(expr, ast.Call) and is_initializer_constructor(resolve(expr.func) or "")

    return bool(returns) and all(isinstance(r, ast.Call) and initializer(r.func) for r in returns)


# Calls and attributes that give a tensor's shape, never its values.
_SHAPE_CALLS = frozenset({"shape", "get_shape", "as_list", "int_shape", "shape_n", "rank", "len"})
_SHAPE_ATTRIBUTES = frozenset({"shape", "ndim", "dims", "rank"})


def _returns_shape(node: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> bool:
    """Every `return` of the function gives shape metadata: `x.get_shape().as_list()`,
    `tf.shape(x)`, an item of those, an integer, or a name that only ever holds such values
    (bound to them, appended them, or looping over them): t2t's `shape_list(x)`."""
    bound: dict[str, list[ast.expr]] = {}
    opaque: set[str] = set()  # bound by unpacking or an augmented assignment: not followed
    returns: list[Optional[ast.expr]] = []
    for child in _own_nodes(node.body):
        if isinstance(child, ast.Assign):
            for target in child.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(child.value)
                elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                    # `shape[i] = dynamic[i]`: the list holds that value too (BERT's `get_shape_list`)
                    bound.setdefault(target.value.id, []).append(child.value)
                else:
                    opaque.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
        elif isinstance(child, (ast.AugAssign, ast.AnnAssign)) and isinstance(child.target, ast.Name):
            opaque.add(child.target.id)
        elif isinstance(child, (ast.For, ast.comprehension)):
            _bind_loop(bound, child.target, child.iter)
        elif isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "append" \
                and isinstance(child.func.value, ast.Name) and len(child.args) == 1:
            bound.setdefault(child.func.value.id, []).append(child.args[0])
        elif isinstance(child, ast.Return):
            returns.append(child.value)

    def shape(expr: ast.expr, seen: frozenset[str]) -> bool:
        if isinstance(expr, ast.Call):
            callee = expr.func
            called = callee.attr if isinstance(callee, ast.Attribute) else callee.id if isinstance(callee, ast.Name) else ""
            return called in _SHAPE_CALLS
        if isinstance(expr, ast.Attribute):
            return expr.attr in _SHAPE_ATTRIBUTES
        if isinstance(expr, ast.Subscript):
            return shape(expr.value, seen)
        if isinstance(expr, (ast.List, ast.Tuple)):
            return all(shape(e, seen) for e in expr.elts)
        if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):  # its loops' names are bound above
            return shape(expr.elt, seen)
        if isinstance(expr, ast.IfExp):
            return shape(expr.body, seen) and shape(expr.orelse, seen)
        if isinstance(expr, ast.Constant):
            return expr.value is None or (isinstance(expr.value, int) and not isinstance(expr.value, bool))
        if isinstance(expr, ast.Name):
            if expr.id in opaque:
                return False
            if expr.id in seen:
                return True
            values = bound.get(expr.id, [])
            return bool(values) and all(shape(v, seen | {expr.id}) for v in values)
        return False

    return bool(returns) and all(r is not None and shape(r, frozenset()) for r in returns)


def _bind_loop(bound: dict[str, list[ast.expr]], target: ast.expr, iterated: ast.expr) -> None:
    """What a `for` loop or a comprehension binds each name to: an item of what it iterates
    (`for index, item in enumerate(xs)`: an integer and an item of `xs`)."""
    if (isinstance(iterated, ast.Call) and isinstance(iterated.func, ast.Name) and iterated.func.id == "enumerate"
            and iterated.args and isinstance(target, ast.Tuple) and len(target.elts) == 2):
        index, item = target.elts
        targets = [(index, ast.Constant(value=0)), (item, iterated.args[0])]
    else:
        targets = [(target, iterated)]
    for name_target, value in targets:
        for name in ast.walk(name_target):
            if isinstance(name, ast.Name):
                bound.setdefault(name.id, []).append(value)


def _assigned_names(stmt: ast.stmt) -> Iterator[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                yield from _assigned_names(child)
        for handler in getattr(stmt, "handlers", []):
            for child in handler.body:
                yield from _assigned_names(child)
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id


def _seed_rate(call: ast.Call) -> Optional[ast.expr]:
    """The rate (or `stddev`) a seeded Keras layer's construction gives: its first argument."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("rate", "stddev")), None)


def _is_zero(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 0


def _zero_defaults(init: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> dict[str, int]:
    positional = [*init.args.posonlyargs, *init.args.args][1:]
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(init.args.defaults):], init.args.defaults))
    found = {a.arg: i for i, a in enumerate(positional) if a.arg in defaults and _is_zero(defaults[a.arg])}
    found.update({a.arg: -1 for a, d in zip(init.args.kwonlyargs, init.args.kw_defaults) if d is not None and _is_zero(d)})
    return found


def _is_constant(node: ast.expr, value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _dotted(node: ast.expr) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def absolute_module(importer: str, is_package: bool, module: Optional[str], level: int) -> Optional[str]:
    """The absolute name of `from <level dots><module> import ...` in module `importer`
    (None when the dots climb above its top-level package)."""
    if level == 0:
        return module
    package = importer.split(".")
    if not is_package:
        package = package[:-1]
    if level - 1 > len(package) or (level - 1 == len(package) and not module):
        return None
    package = package[: len(package) - (level - 1)]
    return ".".join([*package, *([module] if module else [])])

