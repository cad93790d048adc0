"""TGF209: Keras layers constructed inside `call`."""

from __future__ import annotations

import re
from typing import Optional, Union

import libcst as cst

from tfgradfix.analysis.dataflow import names_in
from tfgradfix.analysis.frequency import runs_once
from tfgradfix.analysis.keras import constructed_layer, never_runs, returns_own_model, self_attribute
from tfgradfix.analysis.layer_state import repeated_in
from tfgradfix.analysis.tree import descendants
from tfgradfix.fixes.edits import Edit, Fix
from tfgradfix.fixes.hoist import (
    COMPUTED_NAMES, RenameReads, add_to_build, add_to_init, assignment, build_input_name, free_attribute,
    unavailable,
)
from tfgradfix.fixes.statements import moved
from tfgradfix.rules.base import Rule

_CONSEQUENCES = {
    "weights": "a new layer with new weights on every call, which Keras does not track and the optimizer never trains",
    "seed": "a new layer on every call, whose random-seed variable makes `tf.function` and `model.fit` raise "
            "(`tf.function only supports singleton tf.Variables`)",
}


def snake_case(name: str) -> str:
    """`Conv2D` -> `conv2d`, `BatchNormalization` -> `batch_normalization` (Keras's own naming)."""
    words = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", words).lower()


class LayerInCall(Rule):
    code = "TGF209"
    name = "layer-in-call"
    summary = "a Keras layer constructed inside `call` (`Dense(10)(x)`): new, untracked weights on every call"
    message = "`{layer}(...)` is constructed inside `{function}`: {consequence}"
    triggers = ("Layer", "layers", "Model")
    what = (
        "Finds a Keras layer constructed on the forward pass of a layer or model: "
        "`return tf.keras.layers.Dense(10)(x)`, `conv = layers.Conv2D(8, 3)` then `conv(x)`, "
        "`self.proj = Dense(4)` inside `call`, `keras.Sequential([...])`, and layers of the "
        "module that create weights; a layer built as another's argument "
        "(`TimeDistributed(Dense(3))`) is covered by the outer one's finding. "
        "Layers without variables (`Flatten`, `Activation`, `Reshape`, pooling, padding, "
        "merging layers such as `Concatenate`, `Lambda`, ...) cost nothing to rebuild and are "
        "not reported; `Dropout` and the other noise layers are, because each one creates a "
        "random-seed variable. Creation guarded by `if self.dense is None:` runs once and is "
        "not reported."
    )
    evidence = (
        "A Keras layer that creates variables (weights, or the seed variable of Keras 3's Dropout and noise "
        "layers), built on the forward pass on every call: not under a test that closes after the first run "
        "(the frequency model: `if not self.built:`, `is None`, a slot `__init__` sets to None and only `call` "
        "fills with an object, `if not self.head:`; a helper whose every caller runs once: `__init__`, or `build` "
        "under `if not self.built:`), not a weightless layer (`Flatten`, `Activation`, `Lambda`..., also wrapped in "
        "`TimeDistributed`, or `RNN(cell=self.cell)` over a cell made once), and a layer Keras defines (a name no "
        "Keras has, such as a misspelt `RELU`, says nothing). Not in a layer's own `__call__` "
        "override, nor in a `call` the project only runs by hand (`Block(...).call(net)`, every construction "
        "in the project so, or an object only used through its own builder returning `Model(inputs, "
        "self.call(inputs))`, `net.build_graph()`, in any module), nor in helpers only those reach: either bypasses Keras and, called on "
        "`keras.Input`s, builds its layers into the functional model. A noise layer (`Dropout`) only in Keras 3 code: Keras 2's and TF 1.x's hold no "
        "variable. Creation on a cache miss (`layer = self.cache.get(k)` / `if not layer:` storing into "
        "`self.cache[k]`) runs once per key. A method that returns a model it builds (`model = Sequential()` ... "
        "`return model`, `return Model(inputs, outputs)`: a model factory even when named `call`), and a "
        "helper only such factories call, hand their layers to that model, which tracks them. Not in a branch "
        "that a flag the class hard-codes never takes (`self.bn = True` set once in `__init__`, never changed in "
        "the module or its subclasses there: the `else` of `if self.bn:` never runs). Not in TF 1.x graph-mode code "
        "(a module that uses a TF 1.x-only API, `tf.placeholder`, `tf.layers`, `tf.train.AdamOptimizer`, and does not "
        "enable eager execution): its `call` builds the graph once, on placeholders or an estimator's features, and "
        "the layers it makes are graph nodes whose variables TF 1.x's optimizers train."
    )
    why = (
        "`call` runs on every forward pass, so the layer is constructed again each time with "
        "freshly initialised weights: they are not in `trainable_variables`, the optimizer "
        "never updates them, every call computes with different random weights, and under "
        "`tf.function` / `model.fit` TensorFlow raises `tf.function only supports singleton "
        "tf.Variables created on the first call`. (Keras 3 `Dropout` holds a seed variable, so a "
        "`Dropout` made in `call` raises the same way under `model.fit`.)"
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Head(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.units = units\n"
        "\n"
        "    def call(self, inputs):\n"
        '        hidden = tf.keras.layers.Dense(self.units, activation="relu")(inputs)\n'
        "        return tf.keras.layers.Dense(1)(hidden)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Head(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.units = units\n"
        '        self.dense = tf.keras.layers.Dense(self.units, activation="relu")\n'
        "        self.dense_1 = tf.keras.layers.Dense(1)\n"
        "\n"
        "    def call(self, inputs):\n"
        "        hidden = self.dense(inputs)\n"
        "        return self.dense_1(hidden)\n"
    )
    fix_safety = (
        "Safe: the layer is constructed once with the same arguments, as an attribute, and "
        "`call` calls it. It goes at the end of `__init__` (an `__init__(self, **kwargs)` is "
        "added when the class has none) when its arguments are constants, imports, module "
        "names and `self` attributes that `__init__` sets; at the end of `build` (`inputs.shape` "
        "becoming `input_shape`) when they need the input's static shape or attributes that "
        "`build` sets, or when the class inherits its `__init__` from a layer of the module "
        "(a parent's `build` is called first in a new `build`). A layer assigned to a local (`conv = Conv2D(...)`) keeps its name "
        "(`self.conv`); one called inline gets Keras's name for it (`self.dense`, "
        "`self.dense_1`). Comments above a moved statement move with it. No fix, and the "
        "finding says why, when the layer is constructed in a loop or comprehension (one "
        "layer per iteration: make a list in `__init__`), under an `if` (made unconditionally, "
        "its arguments may be invalid where the branch is not taken: `Dropout(None)` raises), "
        "in a helper, or from values only `call` has (its other arguments, its locals). "
        "Creation that runs once (under `if not self.built:`, `if self.proj is None:`, a "
        "predicate method returning such a test, `tf.init_scope()`) is not reported."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._module_names: Optional[set[str]] = None
        self._classes: Optional[dict] = None

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if not scope.forward or not isinstance(scope.node, cst.FunctionDef) or context.analysis.graph_mode:
            return  # (TF 1.x graph-mode code: `call` builds the graph once, its layers are graph nodes TF 1.x trains)
        cls = scope.keras_class
        if cls is None and not scope.is_forward_entry:
            callers = context.analysis.callers_of(scope)
            classes = {c.keras_class for c, _ in callers if c.keras_class is not None}
            cls = next(iter(classes)) if len(classes) == 1 else None
        if cls is None:
            return
        if self._builds_a_graph(scope, cls, frozenset()):
            # A layer overriding `__call__` itself, or one whose `call` the project only ever runs
            # by hand (`Block(...).call(net)`), bypasses Keras: called on `keras.Input`s (a
            # functional model), the layers it makes, or its helpers make, become nodes of that
            # model, tracked and trained.
            return
        if self._classes is None:
            self._classes = {c.name: c for c in context.analysis.keras_classes.values()}
        classes = self._classes
        found = constructed_layer(node, context.imports, classes)
        if (found is None or runs_once(context, node) or never_runs(cls, node, context.parent)
                or self._inside_another(node, classes) or self._in_factory(scope)):
            return
        layer, kind = found
        if kind == "seed" and (cls.legacy or context.analysis.legacy_keras):
            return  # Keras 2's and TF 1.x's noise layers hold no variable: one made per call makes nothing
        message = self.message.format(layer=layer, function=scope.node.name.value, consequence=_CONSEQUENCES[kind])
        fix = self._fix(cls, node, layer)
        if isinstance(fix, str):
            message, fix = f"{message} (no fix: {fix})", None
        self.report(node, message, fix)

    def _builds_a_graph(self, scope, cls, seen: frozenset) -> bool:
        """`scope` is a graph-building `__call__` (see above), or a helper that only such
        entries reach, through helpers that only they reach."""
        analysis = self.context.analysis
        if scope.is_forward_entry:
            return isinstance(scope.node, cst.FunctionDef) and (
                scope.node.name.value == "__call__" or analysis.run_by_hand(scope.keras_class or cls))
        callers = analysis.callers_of(scope)
        return bool(callers) and len(seen) < 4 and all(
            caller not in seen and isinstance(caller.node, cst.FunctionDef)
            and self._builds_a_graph(caller, cls, seen | {scope}) for caller, _ in callers)

    def _in_factory(self, scope) -> bool:
        """The scope returns the model it builds, or only such factories call it (a functional-API
        helper a `build` returning `Model(inputs, outputs)` calls): its layers go into that model."""
        if returns_own_model(scope.node, self.context.imports):
            return True
        if scope.is_forward_entry:
            return False  # Keras calls it too, besides the callers the code shows
        callers = self.context.analysis.callers_of(scope)
        return bool(callers) and all(isinstance(caller.node, cst.FunctionDef)
                                     and returns_own_model(caller.node, self.context.imports) for caller, _ in callers)

    def _inside_another(self, node: cst.Call, classes) -> bool:
        """An argument of another layer's constructor (`TimeDistributed(Dense(3))`,
        `Sequential([Dense(4)])`): that layer's finding and fix cover it."""
        parent = self.context.parent(node)
        while isinstance(parent, (cst.Arg, cst.Element, cst.List, cst.Tuple)):
            parent = self.context.parent(parent)
            if isinstance(parent, cst.Call) and constructed_layer(parent, self.context.imports, classes) is not None:
                return True
        return False

    def _fix(self, cls, ctor: cst.Call, layer: str) -> Union[Fix, str]:
        context = self.context
        call_method = context.scope.node
        if not (context.scope.is_forward_entry and call_method.name.value == "call"):
            return f"`{call_method.name.value}` runs on every call: construct the layer once in the layer's `__init__` and pass it in"
        parent = context.parent(ctor)
        if repeated_in(context, ctor, call_method):
            return "it is constructed in a loop or comprehension, one layer per iteration: construct a list of layers in `__init__`"
        if _conditional_in(context, ctor, call_method):
            # Made unconditionally in `__init__`, its arguments may not be valid where the branch
            # was not taken (`Dropout(rate)` with `rate=None` raises at construction).
            return "it is constructed under an `if`: construct it in `__init__` under the same condition"
        where = self._where(cls, ctor)
        if isinstance(where, str):
            return where
        statement = context.parent(parent) if isinstance(parent, cst.Assign) else None
        if isinstance(parent, cst.Call) and parent.func is ctor:  # Dense(10)(x)
            attr = free_attribute(cls, snake_case(layer), numbered=True)
            if attr is None:
                return COMPUTED_NAMES
            created = assignment(attr, ctor)
            edits = [Edit(ctor, cst.Attribute(cst.Name("self"), cst.Name(attr)))]
        elif (isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(statement, cst.SimpleStatementLine)
              and len(statement.body) == 1 and len(context.parent(statement).body) > 1):
            target = parent.targets[0].target
            if isinstance(target, cst.Name):
                local = target.value
                if sum(b.name == local for b in context.scope.analyse().bindings) != 1:
                    return f"`{local}` is bound more than once in `call`"
                attr = free_attribute(cls, local, numbered=True)
                if attr is None:
                    return COMPUTED_NAMES
                rename = RenameReads(local, cst.Attribute(cst.Name("self"), cst.Name(attr)))
                edits = [Edit(statement, cst.RemovalSentinel.REMOVE),
                         Edit(call_method, lambda updated: updated.with_changes(body=updated.body.visit(rename)))]
            elif self_attribute(target) is not None:
                attr = self_attribute(target)
                edits = [Edit(statement, cst.RemovalSentinel.REMOVE)]
            else:
                return "it is stored in a container: construct it in `__init__`"
            created = assignment(attr, ctor, moved(statement))
        else:
            return "it is passed on rather than called: construct it once in `__init__`"
        target_method, shape_inputs = where
        if target_method == "__init__" and "__init__" not in cls.methods and cls.method("__init__") is not None:
            target_method = "build"  # a new `__init__` would hide the inherited one's signature
        if target_method == "build":
            input_shape = build_input_name(cls)
            [created], _ = unavailable([created], shape_inputs, context.imports, input_shape)
            holder, edit = add_to_build(cls, [created])
        else:
            holder, edit = add_to_init(cls, [created])
        return Fix(f"Construct the layer once, in `{target_method}`", (*edits, Edit(holder, edit)))

    def _where(self, cls, ctor: cst.Call) -> Union[tuple[str, set[str]], str]:
        """("__init__" | "build", the input names whose shape the layer's arguments read),
        or why neither can construct it."""
        context = self.context
        call_method = context.scope.node
        inputs = {p.name.value for p in call_method.params.params[1:2]}
        args = [a.value for a in ctor.args]
        in_init = _assigned_in(cls, "__init__")
        in_build = _assigned_in(cls, "build")
        reads_shape = set()
        target = "__init__"
        for arg in args:
            for node in descendants(arg):
                attr = self_attribute(node)
                if attr is None or attr in in_init:
                    continue
                if attr in in_build:
                    target = "build"
                else:
                    return f"`self.{attr}` is not set in `__init__` or `build`"
            for name in inputs:
                if any(isinstance(n, cst.Attribute) and n.attr.value == "shape" and isinstance(n.value, cst.Name)
                       and n.value.value == name for n in descendants(arg)):
                    reads_shape.add(name)
        if reads_shape:
            target = "build"
        _, unknown = unavailable([assignment("layer", ctor)], reads_shape, context.imports, build_input_name(cls))
        unknown = [n for n in unknown if n not in self._names_of_module()]
        if unknown:
            names = ", ".join(f"`{n}`" for n in unknown)
            return f"its arguments need {names}, which only `call` has"
        return target, reads_shape

    def _names_of_module(self) -> set[str]:
        if self._module_names is None:
            names = set()
            for statement in self.context.analysis.module.body:
                if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                    names.add(statement.name.value)
                elif isinstance(statement, cst.SimpleStatementLine):
                    for small in statement.body:
                        if isinstance(small, (cst.Assign, cst.AnnAssign)):
                            targets = small.targets if isinstance(small, cst.Assign) else [small]
                            names.update(n for t in targets for n in names_in(t.target))
            self._module_names = names
        return self._module_names


def _assigned_in(cls, method: str) -> set[str]:
    """`self.<attr>` assigned by `method` of the class or its module parents."""
    found = set()
    for c in cls.lineage():
        function = c.methods.get(method)
        if function is None:
            continue
        for node in descendants(function):
            if isinstance(node, cst.AssignTarget):
                attr = self_attribute(node.target)
                if attr is not None:
                    found.add(attr)
    return found


def _conditional_in(context, node: cst.CSTNode, function: cst.FunctionDef) -> bool:
    """Whether `node` runs only on some branch of `function`: under an `if`, a conditional
    expression, or a short-circuiting `and`/`or`."""
    parent = context.parent(node)
    while parent is not None and parent is not function:
        if isinstance(parent, (cst.If, cst.IfExp, cst.BooleanOperation, cst.Else, cst.Try, cst.ExceptHandler)):
            return True
        parent = context.parent(parent)
    return False
