"""TGF2 — variables Keras does not track, or the tape cannot see."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import Blocking, names_in
from tfgradfix.analysis.imports import dotted_name, is_integer_dtype
from tfgradfix.analysis.keras import self_attribute
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.edits import Applicability, Edit, Fix, keyword_arg
from tfgradfix.fixes.literals import as_floats, is_integer_literal
from tfgradfix.fixes.hoist import (
    RenameReads, add_to_build, buildable, build_input_name, free_attribute, weight_statements, without,
)
from tfgradfix.fixes.weights import WeightTranslator
from tfgradfix.rules.base import Rule

_VARIABLE = ("tensorflow.Variable",)
_ASSIGNS = ("assign", "assign_add", "assign_sub")


def _creates(context, node: cst.Call) -> Optional[str]:
    """"variable" for `tf.Variable(...)`, "weight" for `*.add_weight(...)`, else None."""
    if context.imports.resolve(node.func) in _VARIABLE:
        return "variable"
    if isinstance(node.func, cst.Attribute) and node.func.attr.value == "add_weight":
        return "weight"
    return None


def _stored_on(context, node: cst.CSTNode) -> Optional[str]:
    """The `self.<attr>` that ends up holding `node`: assigned directly, inside a list,
    tuple, dict or comprehension, or appended to `self.<attr>`."""
    parent_of = context.parent
    while True:
        parent = parent_of(node)
        if isinstance(parent, (cst.Element, cst.DictElement, cst.List, cst.Tuple, cst.Dict, cst.ListComp,
                               cst.DictComp, cst.StarredElement)):
            node = parent
            continue
        if isinstance(parent, cst.Arg):
            call = parent_of(parent)
            if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value in ("append", "extend", "insert", "add")):
                return self_attribute(call.func.value)
            return None
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            for target in targets:
                base = target.value if isinstance(target, cst.Subscript) else target
                attr = self_attribute(base)
                if attr is not None:
                    return attr
        return None


class UntrackedVariableAttribute(Rule):
    code = "TGF203"
    name = "untracked-variable-attribute"
    summary = "`self.x = tf.Variable(...)` (or in a list/dict) in a Keras 3 `Layer`/`Model`"
    message = "`self.{attr}` holds a `tf.Variable`: Keras 3 does not track it, so it is not in `trainable_variables` and never trains"
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` stored on a Keras layer or model outside its forward pass "
        "(`__init__`, `build`, helpers they call): `self.w = tf.Variable(...)`, and variables kept in "
        "a list or dict on the layer (`self.ws = [tf.Variable(...) for ...]`, "
        "`self.ws.append(tf.Variable(...))`)."
    )
    why = (
        "Keras 3 (`tf.keras` from TensorFlow 2.16) tracks only the variables it creates itself "
        "(`add_weight`, `keras.Variable`). A `tf.Variable` attribute is invisible: "
        "`len(layer.trainable_variables) == 0`, `model.fit` never updates it, `model.save` does "
        "not store it, and nothing warns. TF 2.0-2.15 tutorials wrote layers exactly this way, "
        "so legacy code moved to TF >= 2.16 silently stops training."
    )
    example = (
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        self.w = tf.Variable(tf.random.normal((input_dim, units)), name=\"w\")\n"
        "        self.b = tf.Variable(tf.zeros((units,)))\n"
    )
    fixed_example = (
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim):\n"
        "        super().__init__()\n"
        "        self.w = self.add_weight(name=\"w\", shape=(input_dim, units), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n"
        "        self.b = self.add_weight(shape=(units,), initializer=\"zeros\")\n"
    )
    fix_safety = (
        "Safe: the same shape, dtype, trainability and name, and an initializer with the same "
        "distribution as the initial value (`tf.random.normal` -> `RandomNormal` with its mean "
        "and stddev spelled out, `tf.zeros` -> \"zeros\", literals and `tf.fill` -> `Constant`, "
        "`init(shape)` -> `init`). When the shape cannot be read from the code (a NumPy array, "
        "a tensor from elsewhere) the finding has no fix.\n\n"
        "Only for Keras 3. A project on Keras 2 (it imports `tf_keras`, or sets "
        "`TF_USE_LEGACY_KERAS=1`) tracks these variables; files that import `tf_keras` or name "
        "`TF_USE_LEGACY_KERAS` are skipped, and `--ignore TGF203` turns the rule off everywhere."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if context.imports.resolve(node.func) not in _VARIABLE or scope.keras_class is None:
            return
        if scope.forward or scope.keras_class.legacy or context.analysis.legacy_keras:
            return  # in call: TGF201/TGF202's business
        attr = _stored_on(context, node)
        if attr is None:
            return
        trainable_integer = (node.args and node.args[0].keyword is None and is_integer_literal(node.args[0].value)
                             and not _is_false(_keyword_value(node, "trainable")))
        fix = None if trainable_integer else self._fix(node, attr)  # TGF206 first: an int weight cannot train
        self.report(node, self.message.format(attr=attr), fix)

    def _fix(self, node: cst.Call, attr: str) -> Optional[Fix]:
        context = self.context
        assign = context.parent(node)
        statement = context.parent(assign)
        direct = (isinstance(assign, cst.Assign) and assign.value is node
                  and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1)
        initial = f"initial_{attr.lstrip('_')}" if direct else None
        weight = WeightTranslator(context.imports).from_variable(node, initial=initial)
        if weight is None:
            return None
        if weight.prelude is None:
            return Fix.replace(node, weight.add_weight(), "Create it with `self.add_weight`")
        prelude = weight.prelude.with_changes(leading_lines=statement.leading_lines)
        rest = statement.with_changes(leading_lines=[], body=[assign.with_changes(value=weight.add_weight())])
        return Fix.replace(statement, cst.FlattenSentinel([prelude, rest]), "Create it with `self.add_weight`")


def _keyword_value(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _is_false(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


class IntegerVariable(Rule):
    code = "TGF206"
    name = "integer-variable"
    summary = "a trainable variable with an integer dtype"
    message = "`{attr}` is a trainable variable of an integer dtype: gradients exist only for floats, so it never trains"
    triggers = ("Variable(", "add_weight")
    what = (
        "Finds trainable variables with an integer dtype that a layer's forward pass reads: "
        "`tf.Variable(1)`, `tf.Variable([1, 2])`, `add_weight(..., dtype=\"int32\")`. Counters "
        "(`trainable=False`, or only ever `assign_add`ed) are not reported."
    )
    why = (
        "TensorFlow differentiates floating-point values only: the tape does not watch an "
        "integer variable, `tape.gradient` returns `None` for it, and `model.fit` warns "
        "`Gradients do not exist for variables`."
    )
    example = "        self.scale = tf.Variable(2)\n"
    fixed_example = "        self.scale = tf.Variable(2.0)\n"
    fix_safety = (
        "Unsafe (applied with `--unsafe-fixes`) for `tf.Variable` with integer literals: they "
        "become floats, which changes integer arithmetic downstream (`7 // 2`). An explicit "
        "integer `dtype` is reported without a fix."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        cls = context.scope.keras_class
        if cls is None or context.scope.forward:
            return
        created = _creates(context, node)
        is_variable = created == "variable"
        if created is None or _is_false(_keyword_value(node, "trainable")):
            return
        dtype = _keyword_value(node, "dtype")
        literal = is_variable and node.args and node.args[0].keyword is None and is_integer_literal(node.args[0].value)
        integer_dtype = dtype is not None and is_integer_dtype(context.imports.dtype_name(dtype))
        if not (integer_dtype or (literal and dtype is None)):
            return
        attr = _stored_on(context, node)
        if attr is None or not _read_in_forward(context, cls, attr):
            return
        fix = None
        if literal and dtype is None:
            value = node.args[0].value
            fix = Fix("Use float literals", (Edit(value, as_floats(value)),), Applicability.UNSAFE)
        self.report(node, self.message.format(attr=f"self.{attr}"), fix)


def _read_in_forward(context, cls, attr: str) -> bool:
    """`self.<attr>` read (not only assigned or `.assign*`ed) by a forward-path method."""
    for scope in context.analysis.scopes.values():
        if not scope.forward or scope.keras_class is None or cls not in list(scope.keras_class.lineage()):
            continue
        for node in descendants(scope.node):
            if self_attribute(node) != attr:
                continue
            parent = context.parent(node)
            if isinstance(parent, cst.Attribute) and parent.attr.value in _ASSIGNS:
                continue
            if isinstance(parent, cst.AssignTarget):
                continue
            return True
    return False


class UnusedWeight(Rule):
    code = "TGF207"
    name = "unused-weight"
    summary = "a trainable weight that `call` never reads"
    message = "`self.{attr}` is a trainable weight that nothing reads: its gradient is always None"
    triggers = ("add_weight",)
    what = (
        "Finds `self.<name> = self.add_weight(...)` (trainable) in a layer with a `call` when no "
        "code in the module reads `.<name>`: not `call`, not a helper, not a subclass, not "
        "another object. Layers that reach their weights dynamically (`getattr`, `self.weights`, "
        "`self.trainable_weights`, `vars(self)`) are left alone."
    )
    why = (
        "A weight the forward pass never reads cannot influence the loss: its gradient is "
        "`None` on every step, `model.fit` warns `Gradients do not exist for variables` and, "
        "with some optimizers, raises. Usually it is a typo (`self.bias` created, `self.b` "
        "used) or a leftover."
    )
    example = (
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.bias = self.add_weight(shape=(4,), initializer=\"zeros\")\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel)\n"
    )
    fixed_example = (
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel) + self.bias\n"
    )
    fix_safety = "No automatic fix: whether to use the weight or remove it is the author's call."
    _DYNAMIC = ("getattr", "vars", "__dict__", "weights", "trainable_weights", "variables",
                "trainable_variables", "_trainable_weights", "setattr")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._reads: Optional[set[str]] = None
        self._strings: list[str] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        context = self.context
        cls = context.analysis.keras_classes.get(node)
        if cls is None or cls.method("call") is None:
            return
        if any(isinstance(n, cst.Name) and n.value in self._DYNAMIC for n in descendants(node)):
            return
        for method in cls.methods.values():
            for statement in descendants(method):
                if not isinstance(statement, cst.Assign) or not isinstance(statement.value, cst.Call):
                    continue
                call = statement.value
                if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_weight"):
                    continue
                if _is_false(_keyword_value(call, "trainable")):
                    continue
                for target in statement.targets:
                    attr = self_attribute(target.target)
                    if attr is not None and not self._read_anywhere(attr):
                        self.report(call, self.message.format(attr=attr))

    def _read_anywhere(self, attr: str) -> bool:
        if self._reads is None:  # one walk of the module, for every weight of every class
            self._reads, self._strings = set(), []
            for node in descendants(self.context.analysis.module):
                if isinstance(node, cst.Attribute) and not isinstance(self.context.parent(node), cst.AssignTarget):
                    self._reads.add(node.attr.value)
                elif isinstance(node, cst.SimpleString):
                    self._strings.append(node.value)
        # named in a string: reached dynamically
        return attr in self._reads or any(attr in text for text in self._strings)


class AssignOnForwardPath(Rule):
    code = "TGF208"
    name = "assign-on-forward-path"
    summary = "`.assign*()` whose result feeds the output (assign has no gradient)"
    message = "`{variable}.{method}(...)` stores a value that carries a gradient, and the output then reads `{variable}`: assign has no gradient, so everything upstream gets None"
    triggers = (".assign",)
    what = (
        "Finds `v.assign(x)` / `assign_add` / `assign_sub` on the gradient path (a layer's "
        "`call`, a tape block) where `x` carries a gradient and the output then reads `v` (or the "
        "result of the assign). Not reported: state updates whose value is under "
        "`tf.stop_gradient` (power iteration in spectral normalisation), counters, and moving "
        "statistics that the output does not read after the update."
    )
    why = (
        "`assign` copies a value into the variable's buffer; the tape records no gradient for "
        "it. Reading the variable afterwards gives a value whose history is cut: the gradient "
        "with respect to the inputs or upstream weights is `None` (meta-learning inner loops, "
        "memory networks, fast weights)."
    )
    example = (
        "    def call(self, x):\n"
        "        self.state.assign(self.state * 0.9 + tf.matmul(x, self.w))\n"
        "        return self.state\n"
    )
    fixed_example = (
        "    def call(self, x):\n"
        "        state = self.state * 0.9 + tf.matmul(x, self.w)\n"
        "        self.state.assign(state)\n"
        "        return state\n"
    )
    fix_safety = (
        "No automatic fix: compute the new value as a tensor, use that tensor for the output, "
        "and assign afterwards."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        callee = node.func
        if not (isinstance(callee, cst.Attribute) and callee.attr.value in _ASSIGNS and node.args):
            return
        if not context.on_gradient_path:
            return
        # Sources are the weights (and watched tensors), not the layer's inputs: a layer that
        # stores a statistic of its input and also returns the input still passes a gradient.
        flow = context.scope.analyse(Blocking(parameters=False).extended("stop_gradient", "StopGradient"))
        if not flow.is_tainted(node.args[0].value):
            return
        variable = dotted_name(callee.value)
        if variable is None or not (self._result_used(node) or self._read_after(node, variable, flow)):
            return
        self.report(node, self.message.format(variable=variable, method=callee.attr.value))

    def _result_used(self, node: cst.Call) -> bool:
        return not isinstance(self.context.parent(node), cst.Expr) and self.context.reaches_output(node)

    def _read_after(self, node: cst.Call, variable: str, flow) -> bool:
        parent_of = self.context.parent
        statement = node
        while statement is not None and not isinstance(statement, cst.SimpleStatementLine):
            statement = parent_of(statement)
        container = parent_of(statement) if statement is not None else None
        if not isinstance(container, (cst.IndentedBlock, cst.Module)):
            return False
        body = list(container.body)
        live = self.context.flow.live if self.context.flow is not None else set()
        for later in body[body.index(statement) + 1:]:
            if not isinstance(later, cst.SimpleStatementLine):
                continue
            for small in later.body:
                value = getattr(small, "value", None)
                if value is None or not any(dotted_name(n) == variable for n in descendants(value)):
                    continue
                feeds_output = (isinstance(small, cst.Return) and self.context.scope.forward) or (
                    isinstance(small, cst.Assign)
                    and any(name in live for t in small.targets for name in names_in(t.target)))
                if feeds_output and not _other_gradient_path(flow, value, variable):
                    return True
        return False


def _other_gradient_path(flow, expr: cst.BaseExpression, variable: str) -> bool:
    """Whether `expr` reaches a weight other than through `variable`."""
    for node in descendants(expr):
        if dotted_name(node) == variable:
            continue
        if isinstance(node, cst.Name) and node.value in flow.tainted:
            return True
        attr = self_attribute(node)
        if attr is not None and flow.scope.is_weight(attr):
            return True
        if isinstance(node, cst.Call) and self_attribute(node.func) is not None and not (
                flow.scope.has_method(node.func.attr.value)):
            return True  # a sub-layer's output
    return False


class VariableRebound(Rule):
    code = "TGF204"
    name = "variable-rebound"
    summary = "a `tf.Variable` name rebound to a tensor (`x = x - lr * g`)"
    message = "`{name} = ...` replaces the `tf.Variable` with a plain tensor: from the next step on, the tape does not watch it and its gradient is None"
    triggers = ("Variable(",)
    what = (
        "Finds `w = w - lr * g`, `w -= lr * g`, `w = w + d` and `w = f(w)` where `w` holds a "
        "`tf.Variable` (it is bound only to `tf.Variable(...)` otherwise), inside a loop that "
        "takes gradients with a `tf.GradientTape`. (`w -= d` on a variable raises `RuntimeError` in "
        "TF 2.x; it gets the same fix.)"
    )
    why = (
        "Arithmetic on a variable returns a tensor, and the assignment rebinds the name to it: "
        "the variable is gone. A tape watches variables automatically, tensors never, so the "
        "second step's `tape.gradient` returns `None` and the optimisation stops after one step "
        "(or `optimizer.apply_gradients` raises)."
    )
    example = (
        "w = tf.Variable(0.5)\n"
        "for step in range(100):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = (w * x - y) ** 2\n"
        "    w = w - 0.1 * tape.gradient(loss, w)\n"
    )
    fixed_example = (
        "w = tf.Variable(0.5)\n"
        "for step in range(100):\n"
        "    with tf.GradientTape() as tape:\n"
        "        loss = (w * x - y) ** 2\n"
        "    w.assign_sub(0.1 * tape.gradient(loss, w))\n"
    )
    fix_safety = (
        "Safe: `w.assign_sub(d)` / `w.assign_add(d)` / `w.assign(expr)` leave `w` the same "
        "values as before, but as the variable, so every later step (and every other holder of "
        "the variable) sees the update and the tape watches it."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._seen: set = set()  # nested loops visit a statement more than once

    def visit_For(self, node: cst.For) -> None:
        self._loop(node)

    def visit_While(self, node: cst.While) -> None:
        self._loop(node)

    def _loop(self, loop: cst.CSTNode) -> None:
        context = self.context
        flow = context.flow
        if flow is None or not any(isinstance(n, cst.With) and n in context.analysis.tape_blocks
                                   for n in descendants(loop)):
            return
        for statement in descendants(loop):
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(statement, cst.Assign) and len(statement.targets) == 1:
                target = statement.targets[0].target
            elif isinstance(statement, cst.AugAssign):
                target = statement.target
            else:
                continue
            if not isinstance(target, cst.Name) or not self._is_variable(target.value, statement):
                continue
            if statement in self._seen:
                continue
            self._seen.add(statement)
            replacement = _assign_call(statement, target.value)
            fix = Fix.replace(statement, replacement, "Update the variable in place") if replacement else None
            self.report(statement, self.message.format(name=target.value), fix)

    def _is_variable(self, name: str, rebinding: cst.CSTNode) -> bool:
        context = self.context
        others = [b for b in context.flow.bindings if b.name == name and b.statement is not rebinding]
        if others:
            return all(context.imports.resolve(getattr(b.value, "func", cst.Name("_"))) in _VARIABLE
                       for b in others)
        return context.scope.module_variable(name)


def _assign_call(statement: cst.CSTNode, name: str) -> Optional[cst.Expr]:
    """`w = w - d` -> `w.assign_sub(d)`; `w += d` -> `w.assign_add(d)`; `w = f(w)` -> `w.assign(f(w))`."""
    if isinstance(statement, cst.AugAssign):
        method = {cst.SubtractAssign: "assign_sub", cst.AddAssign: "assign_add"}.get(type(statement.operator))
        if method is not None:
            value = statement.value
        else:
            operator = {cst.MultiplyAssign: cst.Multiply, cst.DivideAssign: cst.Divide}.get(type(statement.operator))
            if operator is None:
                return None
            method, value = "assign", cst.BinaryOperation(cst.Name(name), operator(), statement.value)
    else:
        value = statement.value
        method = "assign"
        if (isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.Name)
                and value.left.value == name and isinstance(value.operator, (cst.Subtract, cst.Add))
                and not value.lpar):
            method = "assign_sub" if isinstance(value.operator, cst.Subtract) else "assign_add"
            value = value.right
    call = cst.Call(func=cst.Attribute(cst.Name(name), cst.Name(method)),
                    args=[cst.Arg(value.with_changes(lpar=[], rpar=[]) if not isinstance(value, cst.Tuple) else value)])
    return cst.Expr(call)


_BUILTIN_NAMES = frozenset({"self", "True", "False", "None", "int", "float", "len", "range", "min", "max", "abs"})


class DerivedWeightInBuild(Rule):
    code = "TGF205"
    name = "derived-weight-in-build"
    summary = "a tensor computed from weights in `build()` and used in `call`"
    message = "`self.{attr}` is computed from weights once, in `build`, outside any tape: `call` uses a constant and the weights it came from get no gradient"
    triggers = ("def build",)
    what = (
        "Finds `self.kernel = self.mu + self.sigma * self.eps` in `build` (an expression of the "
        "layer's weights that is not itself a weight or a sub-layer) when `call` reads "
        "`self.kernel`."
    )
    why = (
        "`build` runs once, before any `tf.GradientTape` exists. The derived tensor is a "
        "constant snapshot of the weights: `call` never sees them change, and the tape finds "
        "no path from the loss to `mu` and `sigma` (`Gradients do not exist for variables`)."
    )
    example = (
        "    def build(self, input_shape):\n"
        "        self.mu = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.sigma = self.add_weight(shape=(input_shape[-1], 4))\n"
        "        self.kernel = self.mu + self.sigma * self.eps\n"
        "    def call(self, x):\n"
        "        return tf.matmul(x, self.kernel)\n"
    )
    fixed_example = (
        "    def call(self, x):\n"
        "        kernel = self.mu + self.sigma * self.eps\n"
        "        return tf.matmul(x, kernel)\n"
    )
    fix_safety = (
        "Safe when the expression is arithmetic and TF ops on the layer's attributes: it moves "
        "to the top of `call` as a local, and `call` reads the local. The first forward pass "
        "gives the same values; later ones follow the trained weights, which is the point. "
        "Unsafe (with `--unsafe-fixes`) when the expression calls anything else (it may have "
        "side effects). No fix when it uses `build`'s local names or other methods read the "
        "attribute."
    )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        context = self.context
        scope = context.analysis.scopes.get(node)
        cls = scope.keras_class if scope is not None else None
        if cls is None or node.name.value != "build" or not isinstance(node.body, cst.IndentedBlock):
            return
        call = cls.method("call")
        if call is None or call not in cls.methods.values() or not isinstance(call.body, cst.IndentedBlock):
            return
        for statement in node.body.body:
            if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                    and isinstance(statement.body[0], cst.Assign) and len(statement.body[0].targets) == 1):
                continue
            assign = statement.body[0]
            attr = self_attribute(assign.targets[0].target)
            value = assign.value
            if attr is None or isinstance(value, cst.Call) and (
                    is_constructor(value, context.imports) or isinstance(value.func, cst.Name)):
                continue
            reads_weight = any(
                self_attribute(n) is not None and cls.is_weight(self_attribute(n)) for n in descendants(value))
            if not reads_weight or not _read_in_forward(context, cls, attr):
                continue
            self.report(statement.body[0], self.message.format(attr=attr),
                        self._fix(cls, node, statement, attr, value, call))

    def _fix(self, cls, build, statement, attr, value, call) -> Optional[Fix]:
        imports = self.context.imports
        if set(names_in(value)) - _BUILTIN_NAMES - set(imports.bindings):
            return None  # reads build's locals
        readers = [m for name, m in cls.methods.items() if name not in ("build", "call")
                   and any(self_attribute(n) == attr for n in descendants(m))]
        if readers:
            return None
        calls = [n for n in descendants(value) if isinstance(n, cst.Call)]
        pure = all((imports.resolve(c.func) or "").startswith("tensorflow.") for c in calls)
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

        return Fix(f"Compute `self.{attr}` in `call`", (Edit(statement, removal), Edit(call, rewrite_call)),
                   Applicability.SAFE if pure else Applicability.UNSAFE)


def is_constructor(value: cst.Call, imports) -> bool:
    """add_weight, tf.Variable, or a Keras layer: state, not a derived tensor."""
    callee = value.func
    if isinstance(callee, cst.Attribute) and callee.attr.value == "add_weight":
        return True
    qualified = imports.resolve(callee) or ""
    return qualified in _VARIABLE or ".layers." in qualified or qualified.endswith("Variable")


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


def _lazily_created(context, node: cst.CSTNode) -> bool:
    """Inside `if self.v is None:`, `if not self.built:`, `if not hasattr(self, ...)`: created once."""
    parent = context.parent(node)
    while parent is not None and not isinstance(parent, cst.FunctionDef):
        if isinstance(parent, cst.If):
            text = cst.Module(body=[]).code_for_node(parent.test)
            if "None" in text or "built" in text or "hasattr" in text or " in " in text:
                return True
        parent = context.parent(parent)
    return False


class VariableInCall(Rule):
    code = "TGF202"
    name = "variable-in-call"
    summary = "`tf.Variable` / `add_weight` created inside `call`"
    message = "{what} is created inside `call`: {consequence}"
    triggers = ("Variable(", "add_weight")
    what = (
        "Finds `tf.Variable(...)` and `self.add_weight(...)` in a Keras layer's `call`. Lazy "
        "creation guarded by `if self.v is None:`, `if not self.built:` or `hasattr` runs once "
        "and is not reported."
    )
    why = (
        "A `tf.Variable` made in `call` is a new, untracked variable on every call: it is not in "
        "`trainable_variables`, the optimizer never updates it, and under `tf.function` / "
        "`model.fit` TensorFlow raises `tf.function only supports singleton tf.Variables created "
        "on the first call`. `self.add_weight` in `call` raises in Keras 3 (`You cannot add new "
        "elements of state`)."
    )
    example = (
        "    def call(self, inputs):\n"
        "        w = tf.Variable(tf.random.normal((inputs.shape[-1], 4)))\n"
        "        return tf.matmul(inputs, w)\n"
    )
    fixed_example = (
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 4), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.w)\n"
    )
    fix_safety = (
        "Safe: the variable is created once, in `build` (made if the class has none; "
        "`super().build()` is not added), as `self.add_weight` with the same shape, dtype, "
        "trainability and an initializer of the same distribution; the input's static shape "
        "(`inputs.shape[-1]`) becomes `input_shape[-1]`. The first call computes what the "
        "original did; later calls use the trained weight instead of a fresh one. No fix when "
        "the variable needs values that only `call` has, or is created inside a loop or "
        "expression."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        cls = scope.keras_class
        if cls is None or not scope.is_forward_entry or scope.node.name.value != "call":
            return
        created = _creates(context, node)
        if created is None or _lazily_created(context, node):
            return
        is_variable = created == "variable"
        what = "a `tf.Variable`" if is_variable else "a weight"
        consequence = ("a new, untracked variable on every call, which never trains"
                       if is_variable else "Keras 3 raises once the layer is built")
        self.report(node, self.message.format(what=what, consequence=consequence), self._fix(cls, node))

    def _fix(self, cls, ctor: cst.Call) -> Optional[Fix]:
        context = self.context
        call_method = context.scope.node
        statement = context.parent(context.parent(ctor))
        assign = context.parent(ctor)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in call_method.body.body):
            return None
        target = assign.targets[0].target
        local = target.value if isinstance(target, cst.Name) else None
        attr = self_attribute(target) if local is None else free_attribute(cls, local)
        if attr is None:
            return None
        statements = weight_statements(ctor, context.imports, attr, statement)
        input_shape = build_input_name(cls)
        inputs = {p.name.value for p in call_method.params.params[1:2]}
        statements = buildable(statements, inputs, context.imports, input_shape) if statements else None
        if statements is None:
            return None
        rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attr))) if local else None
        build_node, build_edit = add_to_build(cls, statements)
        return Fix("Create the weight once, in `build`", (
            Edit(call_method, without(call_method, statement, rename)),
            Edit(build_node, build_edit),
        ))


class VariableInHelper(Rule):
    code = "TGF201"
    name = "variable-in-helper"
    summary = "`tf.Variable` created in a function or method that `call` reaches"
    message = "a `tf.Variable` is created in `{helper}`, which `call` runs: a new, untracked variable on every call, which never trains"
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` (and `self.add_weight(...)`) in a helper function of the module "
        "or a method of the layer that a Keras layer's `call` reaches. Lazy creation guarded by "
        "`if self.v is None:` and the like is not reported."
    )
    why = (
        "The helper runs on every forward pass, so the variable is created again each time: it "
        "is never in `trainable_variables`, the optimizer never updates it, its gradient is lost "
        "after the step, and under `tf.function` / `model.fit` TensorFlow raises "
        "`tf.function only supports singleton tf.Variables created on the first call`."
    )
    example = (
        "def project(inputs):\n"
        "    w = tf.Variable(tf.random.normal((inputs.shape[-1], 2)))\n"
        "    return tf.matmul(inputs, w)\n"
        "\n"
        "class Layer(tf.keras.layers.Layer):\n"
        "    def call(self, inputs):\n"
        "        return project(inputs)\n"
    )
    fixed_example = (
        "def project(inputs, *, w):\n"
        "    return tf.matmul(inputs, w)\n"
        "\n"
        "class Layer(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=1.0))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return project(inputs, w=self.w)\n"
    )
    fix_safety = (
        "Safe: the variable is created once, in the calling layer's `build`, as `self.add_weight` "
        "(same shape, dtype, trainability, an initializer of the same distribution). A helper "
        "method then reads `self.<name>`; a module function gets a keyword-only parameter that "
        "every call site passes. No fix when several layers call the helper, when the shape "
        "needs values other than the input's static shape, or when the variable is created "
        "inside a loop or an expression."
    )

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if not scope.forward or scope.is_forward_entry or not isinstance(scope.node, cst.FunctionDef):
            return
        if _creates(context, node) is None or _lazily_created(context, node):
            return
        callers = context.analysis.callers_of(scope)
        layers = {c.keras_class for c, _ in callers if c.is_forward_entry}
        if not callers or len(layers) != 1 or not all(c.is_forward_entry for c, _ in callers):
            return  # reached through other helpers, or from tapes: not this rule's fix
        cls = layers.pop()
        self.report(node, self.message.format(helper=scope.symbol), self._fix(cls, node, callers))

    def _fix(self, cls, ctor: cst.Call, callers) -> Optional[Fix]:
        context = self.context
        helper = context.scope.node
        assign = context.parent(ctor)
        statement = context.parent(assign)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
                and statement in helper.body.body):
            return None
        local = assign.targets[0].target.value
        inputs = self._input_parameters(helper, callers)
        attr = free_attribute(cls, local)
        statements = weight_statements(ctor, context.imports, attr, statement)
        input_shape = build_input_name(cls)
        statements = buildable(statements, inputs, context.imports, input_shape) if statements else None
        if statements is None:
            return None
        build_node, build_edit = add_to_build(cls, statements)
        edits = [Edit(build_node, build_edit)]
        if context.scope.owner_methods.get(helper.name.value) is helper:
            rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))
            edits.append(Edit(helper, without(helper, statement, rename)))
        else:
            remove = without(helper, statement, None)
            edits.append(Edit(helper, lambda updated: _with_keyword_parameter(remove(updated), local)))
            for _, call in callers:
                edits.append(Edit(call, lambda updated: updated.with_changes(args=[
                    *_with_comma(updated.args), keyword_arg(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))])))
        return Fix("Create the weight once, in the layer's `build`", tuple(edits))

    def _input_parameters(self, helper: cst.FunctionDef, callers) -> set[str]:
        """Helper parameters that receive the layer's input at every call site."""
        positional = [p.name.value for p in helper.params.params]
        if positional and positional[0] == "self":
            positional = positional[1:]
        found: Optional[set[str]] = None
        for caller, call in callers:
            layer_input = caller.node.params.params[1].name.value if len(caller.node.params.params) > 1 else None
            here = set()
            for index, arg in enumerate(call.args):
                name = arg.keyword.value if arg.keyword is not None else (
                    positional[index] if index < len(positional) and not arg.star else None)
                if name is not None and isinstance(arg.value, cst.Name) and arg.value.value == layer_input:
                    here.add(name)
            found = here if found is None else found & here
        return found or set()


def _with_comma(args) -> list[cst.Arg]:
    args = list(args)
    if args:
        args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return args


def _with_keyword_parameter(function: cst.FunctionDef, name: str) -> cst.FunctionDef:
    params = function.params
    star = params.star_arg if isinstance(params.star_arg, cst.Param) else cst.ParamStar()
    return function.with_changes(params=params.with_changes(
        star_arg=star, kwonly_params=[*params.kwonly_params, cst.Param(cst.Name(name))]))
