"""TGF205: tensors computed from weights once, in `build`."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.layer_state import read_in_forward
from tfgradfix.analysis.objects import Kind, class_kind, describe
from tfgradfix.analysis.tapes import find_tape_blocks
from tfgradfix.analysis.tree import descendants, statements
from tfgradfix.analysis.vocabulary import MODEL_VARIABLE_LISTS, TF_VARIABLE
from tfgradfix.analysis.values import carries_no_gradient, makes_an_object, value_reads
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.rules.base import Rule

_BUILTIN_NAMES = frozenset({"self", "True", "False", "None", "int", "float", "len", "range", "min", "max", "abs"})


class DerivedWeightInBuild(Rule):
    code = "TGF205"
    name = "derived-weight-in-build"
    summary = ("a tensor computed from weights in `build()` or a constructor (a Keras layer's or model's, a "
               "`tf.Module`'s) and used in `call`")
    message = "`self.{attr}` is computed from weights once, in `{method}`, outside any tape: `call` uses a constant and the weights it came from get no gradient"
    triggers = ("def build", "def __init__", "Module")
    what = (
        "Finds `self.kernel = self.mu + self.sigma * self.eps` in `build` (an expression of the "
        "layer's weights that is not itself a weight or a sub-layer; also under a branch of `build`, and "
        "rebinding the weight's own attribute: `if self.diagonal: self.R = tf.linalg.diag(self.R)`, "
        "reported without a fix) when `call` reads `self.kernel`; the same in the constructor of a Keras layer or "
        "model that makes its weights there (`self.kernel = tf.concat([self.left, self.right], 0)` after two "
        "`add_weight` calls). Evidence: the expression reads a weight and is not a value without "
        "gradient (shape metadata such as `self.alpha.shape`, an integer or a Python number). "
        "Also in a `tf.Module`'s `__init__`: `self.scale = tf.nn.softplus(self.raw_scale)` after "
        "`self.raw_scale = tf.Variable(...)`, when `__call__` reads `self.scale` and not the "
        "variables it comes from, and a tape of the module differentiates the variables of an "
        "instance of that class (a training function called with one)."
    )
    evidence = (
        "In `build` (or `__init__`) of a Keras class: an expression that reads the value of a trainable weight of the class "
        "(not only its shape, dtype or size: `tf.zeros(self.kernel.shape)` is no snapshot), is not itself"
        " a constructor (a weight or a sub-layer) nor a second name for a weight (`self.kernel = self.embeddings`, "
        "also in both branches of a conditional expression, or a list or tuple of weights: `self.initial_state = "
        "[self.w1, self.w2]`: the variables themselves), is not a value without gradient (shape metadata such as "
        "`self.alpha.shape`, an integer, a Python number), and that `call` reads through the attribute. In a "
        "`tf.Module`'s `__init__`: a trainable `tf.Variable` attribute read by the expression and not by "
        "`__call__` itself (tied weights that also use the variable train through it), and a tape of the "
        "module that differentiates an instance's variables (an inference-only module precomputes on purpose). "
        "A module written for TF 1.x (`tf.placeholder`, `tf.Session`: `analysis/tf_version.py`) or for "
        "multi-backend Keras (`keras.legacy.interfaces`, `keras.engine.topology`, what its `keras.engine` package "
        "exported) runs `build` in a graph, "
        "where the expression is a node evaluated on every run: silent."
    )
    why = (
        "`build` runs once, before any `tf.GradientTape` exists. The derived tensor is a "
        "constant snapshot of the weights: `call` never sees them change, and the tape finds "
        "no path from the loss to `mu` and `sigma` (`Gradients do not exist for variables`)."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class NoisyDense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.mu = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.sigma = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.eps = tf.random.normal((input_shape[-1], 4))\n"
        "        self.kernel = self.mu + self.sigma * self.eps\n"
        "\n"
        "    def call(self, x):\n"
        "        return tf.matmul(x, self.kernel)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class NoisyDense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.mu = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.sigma = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.eps = tf.random.normal((input_shape[-1], 4))\n"
        "\n"
        "    def call(self, x):\n"
        "        kernel = self.mu + self.sigma * self.eps\n"
        "        return tf.matmul(x, kernel)\n"
    )
    fix_safety = (
        "Safe when the expression is arithmetic and TF ops on the layer's attributes: it moves "
        "to the top of `call` (`__call__` for a `tf.Module`) as a local, and `call` reads the local. The first forward pass "
        "gives the same values; later ones follow the trained weights, which is the point. "
        "Unsafe (with `--unsafe-fixes`) when the expression calls anything else (it may have "
        "side effects). Where other methods (or `build`, later) read the attribute too, it becomes a "
        "read-only `@property` returning the expression, so every reader follows the trained weights; "
        "only where nothing else assigns the attribute and the class's bases are a plain `Layer`/"
        "`Model` or classes of the module (else no fix, and the message says why). No fix when the "
        "expression uses `build`'s local names."
    )

    _why: Optional[str] = None  # why the last finding has no fix, where the message should say

    _IN_CONSTRUCTOR = ("`self.{attr}` is computed from variables once, in `__init__`, outside any tape: "
                       "`__call__` uses a constant and the variables it came from get no gradient")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        context = self.context
        scope = context.analysis.scopes.get(node)
        cls = scope.keras_class if scope is not None else None
        if (cls is None and scope is not None and scope.owner is not None and node.name.value == "__init__"
                and isinstance(node.body, cst.IndentedBlock)):
            self._module_constructor(scope, scope.owner, node)
            return
        if cls is None or node.name.value not in ("build", "__init__") or not isinstance(node.body, cst.IndentedBlock):
            return
        if context.analysis.tf1_api is not None:
            return  # TF 1.x graph code: what `build` computes is a graph node, evaluated again on every run
        call = cls.method("call")
        if call is None or call not in cls.methods.values() or not isinstance(call.body, cst.IndentedBlock):
            return
        top_level = set(map(id, node.body.body))
        for statement in statements(node.body.body):
            if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                    and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1):
                continue
            assign = statement.body[0]
            attr = self_attribute(assign.targets[0].target)
            value = assign.value
            if attr is None or _is_alias(value) or isinstance(value, cst.Call) and (
                    is_constructor(value, context.imports) or isinstance(value.func, cst.Name)):
                continue
            reads_weight = any(self_attribute(n) is not None and cls.is_weight(self_attribute(n))
                               for n in value_reads(value, context.imports))
            if not reads_weight or not read_in_forward(context, cls, attr):
                continue
            if carries_no_gradient(scope.flow or scope.analyse(), value) or self._object(value, cls.is_weight):
                continue  # `self.alpha_shape = self.alpha.shape`: metadata, the same on every step
            self._why = None
            if id(statement) in top_level:
                fix = self._fix(cls, node, statement, attr, value, call, (node.name.value, "call"))
            else:  # under an `if` of `build` (`if self.diagonal: self.R = tf.linalg.diag(self.R)`)
                fix, self._why = None, f"it is computed under a branch of `{node.name.value}`: move it into `call` under the same test"
            self.report(statement.body[0], self._saying_why(self.message.format(attr=attr, method=node.name.value), fix), fix)

    def _saying_why(self, message: str, fix: Optional[Fix]) -> str:
        return message if fix is not None or self._why is None else f"{message} (no fix: {self._why})"

    def _module_constructor(self, scope, owner: cst.ClassDef, init: cst.FunctionDef) -> None:
        """A `tf.Module` whose constructor computes a tensor from its own trainable variables
        (`self.scale = tf.exp(self.log_scale)`) that `__call__` reads instead of them, and
        that this module trains (a tape differentiates an instance's variables)."""
        context = self.context
        if class_kind(context.analysis, cst.Name(owner.name.value))[0] is not Kind.TF_MODULE:
            return
        methods = {m.name.value: m for m in owner.body.body if isinstance(m, cst.FunctionDef)}
        forward = methods.get("__call__")
        if forward is None or not isinstance(init.body, cst.IndentedBlock):
            return
        weights: set[str] = set()
        for statement in init.body.body:
            if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                    and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1):
                continue
            assign = statement.body[0]
            attr = self_attribute(assign.targets[0].target)
            value = assign.value
            if attr is None:
                continue
            if isinstance(value, cst.Call) and (context.imports.resolve(value.func) or "") in TF_VARIABLE:
                if not any(a.keyword is not None and a.keyword.value == "trainable" for a in value.args):
                    weights.add(attr)
                continue
            sources = {a for n in value_reads(value, context.imports) if (a := self_attribute(n)) in weights}
            if not sources or isinstance(value, cst.Call) and is_constructor(value, context.imports):
                continue
            read = {self_attribute(n) for n in descendants(forward)}
            if attr not in read or sources & read or not self._trains(owner):
                continue  # `__call__` reads the variables themselves: they train through it
            if carries_no_gradient(scope.flow or scope.analyse(), value) or self._object(value, weights.__contains__):
                continue
            self._why = None
            fix = self._fix(methods, init, statement, attr, value, forward, ("__init__", "__call__"))
            self.report(assign, self._saying_why(self._IN_CONSTRUCTOR.format(attr=attr), fix), fix)

    def _object(self, value: cst.BaseExpression, is_weight) -> bool:
        """An object given the weights themselves (`tfd.Normal(self.loc, self.scale)`, a bijector, a
        linear operator) keeps them and reads them when it is used: no snapshot. One given a tensor
        computed from them (`tfd.Normal(self.loc, tf.nn.softplus(self.raw))`) holds a snapshot."""
        imports = self.context.imports
        if not (isinstance(value, cst.Call) and makes_an_object(value, imports)):
            return False
        given = {id(a.value) for a in value.args}
        return all(id(n) in given for n in value_reads(value, imports)
                   if (attr := self_attribute(n)) is not None and is_weight(attr))

    def _trains(self, owner: cst.ClassDef) -> bool:
        """A tape of this module differentiates the variables of an instance of `owner`."""
        analysis = self.context.analysis
        for scope in list(analysis.scopes.values()):
            for block in scope.tape_blocks and find_tape_blocks(scope, self.context.imports):
                for gradient in block.gradients:
                    for node in descendants(gradient.call) if gradient.sources is not None else ():
                        if not (isinstance(node, cst.Attribute) and node.attr.value in MODEL_VARIABLE_LISTS):
                            continue
                        if owner.name.value in describe(scope, node.value).classes:
                            return True
        return False

    def _fix(self, cls, build, statement, attr, value, call, skipped=("build", "call")) -> Optional[Fix]:
        imports = self.context.imports
        if set(names_in(value)) - _BUILTIN_NAMES - set(imports.bindings):
            self._why = f"it reads names local to `{build.name.value}`"
            return None
        methods = cls if isinstance(cls, dict) else cls.methods
        readers = [m for name, m in methods.items() if name not in skipped
                   and any(self_attribute(n) == attr for n in descendants(m))]
        calls = [n for n in descendants(value) if isinstance(n, cst.Call)]
        pure = all((imports.resolve(c.func) or "").startswith("tensorflow.") for c in calls)
        if readers or self._read_later_in(build, statement, attr):
            return self._property_fix(cls, build, statement, attr, value, pure)
        taken = set(names_in(call.body)) | {p.name.value for p in call.params.params}
        local = attr.lstrip("_") or "value"
        while local in taken:
            local += "_"
        only_statement = len(build.body.body) == 1
        removal = cst.SimpleStatementLine([cst.Pass()]) if only_statement else cst.RemovalSentinel.REMOVE
        definition = statement.with_changes(body=[cst.Assign([cst.AssignTarget(cst.Name(local))], value)])

        def rewrite_call(updated: cst.FunctionDef) -> cst.FunctionDef:
            body = list(updated.body.visit(_ReadsOf(attr, local)).body)
            at = 1 if body and _is_docstring(body[0]) else 0
            return updated.with_changes(body=updated.body.with_changes(body=body[:at] + [definition] + body[at:]))

        return Fix(f"Compute `self.{attr}` in `{call.name.value}`", (Edit(statement, removal), Edit(call, rewrite_call)),
                   Applicability.SAFE if pure else Applicability.UNSAFE)


    @staticmethod
    def _read_later_in(build: cst.FunctionDef, statement: cst.CSTNode, attr: str) -> bool:
        body = list(build.body.body)
        return any(self_attribute(n) == attr for later in body[body.index(statement) + 1:] for n in descendants(later))

    def _property_fix(self, cls, build, statement, attr, value, pure) -> Optional[Fix]:
        """Other methods (or `build` itself, later) read the attribute too: it becomes a
        read-only property computing the expression on each read, so every reader follows the
        trained weights. Only where nothing else assigns it and no base class can define it
        (a plain `Layer`/`Model` base, or classes of this module)."""
        if isinstance(cls, dict) or cls.external or cls.method(attr) is not None:
            self._why = f"other methods use `self.{attr}`, and a base class may define it"
            return None
        for owner in cls.lineage():
            for base in owner.node.bases:
                qualified = self.context.imports.resolve(base.value) or ""
                if not (qualified.endswith((".Layer", ".Model")) or (
                        isinstance(base.value, cst.Name) and base.value.value in self.context.analysis.class_names)):
                    self._why = f"other methods use `self.{attr}`, and a base class may define it"
                    return None
        for node in descendants(self.context.analysis.module):
            if node is statement.body[0]:
                continue
            targets = (node.targets if isinstance(node, cst.Assign) else
                       [node] if isinstance(node, (cst.AugAssign, cst.AnnAssign)) else [])
            for target in targets:
                expr = target.target
                if isinstance(expr, cst.Attribute) and expr.attr.value == attr:
                    self._why = (f"other methods use `self.{attr}` and it is assigned elsewhere too, "
                                 "so it cannot become a read-only property")
                    return None
        only_statement = len(build.body.body) == 1
        removal = cst.SimpleStatementLine([cst.Pass()]) if only_statement else cst.RemovalSentinel.REMOVE
        getter = cst.FunctionDef(
            name=cst.Name(attr), params=cst.Parameters([cst.Param(cst.Name("self"))]),
            body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Return(value)])]),
            decorators=[cst.Decorator(cst.Name("property"))],
            leading_lines=[cst.EmptyLine(indent=False)])

        def add_property(updated: cst.FunctionDef):
            return cst.FlattenSentinel([updated, getter])

        return Fix(f"Make `self.{attr}` a property computed on each read", (
            Edit(statement, removal), Edit(build, add_property)), Applicability.SAFE if pure else Applicability.UNSAFE)


def is_constructor(value: cst.Call, imports) -> bool:
    """add_weight, tf.Variable, or a Keras layer: state, not a derived tensor."""
    callee = value.func
    if isinstance(callee, cst.Attribute) and callee.attr.value == "add_weight":
        return True
    qualified = imports.resolve(callee) or ""
    return qualified in TF_VARIABLE or ".layers." in qualified or qualified.endswith("Variable")


def _is_alias(value: cst.BaseExpression) -> bool:
    """`self.w = self.kernel` (or either of two attributes, or a list or tuple of them:
    `self.initial_state = [self.w1, self.w2]`): the weights themselves under another name, read
    on every call, not a tensor computed from them."""
    if isinstance(value, cst.IfExp):
        return _is_alias(value.body) and _is_alias(value.orelse)
    if isinstance(value, (cst.List, cst.Tuple)):
        return bool(value.elements) and all(isinstance(e, cst.Element) and _is_alias(e.value) for e in value.elements)
    return self_attribute(value) is not None


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


class _ReadsOf(cst.CSTTransformer):
    """`self.<attr>` -> `<local>`."""

    def __init__(self, attr: str, local: str) -> None:
        super().__init__()
        self.attr, self.local = attr, local

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if self_attribute(original_node) == self.attr:
            return cst.Name(self.local)
        return updated_node
