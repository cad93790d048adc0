"""TGF207: trainable weights nothing reads."""

from __future__ import annotations

import libcst as cst

from tfgradfix.analysis.keras import never_runs, self_attribute
from tfgradfix.analysis.layer_graph import inherits_weights
from tfgradfix.analysis.layer_state import keyword_value
from tfgradfix.analysis.literals import is_false
from tfgradfix.analysis.tree import descendants
from tfgradfix.rules.base import Rule


class UnusedWeight(Rule):
    code = "TGF207"
    name = "unused-weight"
    summary = "a trainable weight that `call` never reads"
    message = "`self.{attr}` is a trainable weight that nothing reads: its gradient is always None"
    triggers = ("add_weight",)
    what = (
        "Finds `self.<name> = self.add_weight(...)` (trainable) that a layer with a `call` makes "
        "for itself, in `__init__`, `build` or a method they call, when no code in the module "
        "reads `.<name>`: not `call`, not a helper, not a subclass, not another object. A weight "
        "added from another method (a `post_build_add` that a test calls to check tracking) is "
        "its caller's business and is not reported, and so is a weight of a subclass of a built-in layer "
        "with weights (`class WeightNormConv1D(layers.Conv1D)`), whose inherited code reads `self.kernel` "
        "and `self.bias` by name. Layers that reach their weights dynamically (`getattr`, `self.weights`, "
        "`self.trainable_weights`, `vars(self)`) are left alone, and so is a weight whose name "
        "appears as a word in a string elsewhere in the module (`getattr(layer, \"bias\")`); the "
        "weight's own `name=\"bias\"`, other `name=` arguments, docstrings and longer words "
        "(`\"use_bias\"`) do not count as reads."
    )
    evidence = (
        "A trainable `add_weight` the layer makes for itself, and no reader of `.<name>` anywhere in the "
        "module (call, helpers, subclasses, other objects, nor a built-in layer the class derives from), and no dynamic access (`getattr`, `self.weights`,"
        " `vars(self)`, the name as a word in a string). A weight added from another method is silent, and "
        "so is a template class whose calls take `...` for their arguments, and one made only under `if "
        "self.<flag>:` where the class only ever sets that flag to `False` (or in its `else`, where `__init__` only "
        "ever sets it to `True`) and the module sets it on no other object (the code never runs; a flag taken from "
        "the constructor can be turned on, and is reported)."
    )
    why = (
        "A weight the forward pass never reads cannot influence the loss: its gradient is "
        "`None` on every step, `model.fit` warns `Gradients do not exist for variables` and, "
        "with some optimizers, raises. Usually it is a typo (`self.bias` created, `self.b` "
        "used) or a leftover."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.bias = self.add_weight(shape=(4,), initializer="zeros")\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Dense(tf.keras.layers.Layer):\n"
        "    def build(self, input_shape):\n"
        "        self.kernel = self.add_weight(shape=(input_shape[-1], 4))\n"
        '        self.bias = self.add_weight(shape=(4,), initializer="zeros")\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(inputs, self.kernel) + self.bias\n"
    )
    fix_safety = "No automatic fix: whether to use the weight or remove it is the author's call."
    _DYNAMIC = ("getattr", "vars", "__dict__", "weights", "trainable_weights", "variables",
                "trainable_variables", "_trainable_weights", "setattr")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        context = self.context
        cls = context.analysis.keras_classes.get(node)
        if cls is None or cls.method("call") is None:
            return
        if inherits_weights(cls, context.imports):
            return  # a built-in layer's own code reads its weights by name (`super().call` reads `self.bias`)
        if any(isinstance(n, cst.Name) and n.value in self._DYNAMIC for n in descendants(node)):
            return
        if any(isinstance(n, cst.Ellipsis) and isinstance(context.parent(n), cst.Arg) for n in descendants(node)):
            return  # `self.add_weight(...)`: a template whose blanks the reader fills in
        for method in self._own_creation(cls):
            for statement in descendants(method):
                if not isinstance(statement, cst.Assign) or not isinstance(statement.value, cst.Call):
                    continue
                call = statement.value
                if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_weight"):
                    continue
                if is_false(keyword_value(call, "trainable")):
                    continue
                if never_runs(cls, statement, context.parent):
                    continue  # made only in a branch a flag the class hard-codes never takes (`if self.use_bias:`)
                for target in statement.targets:
                    attr = self_attribute(target.target)
                    if attr is not None and not context.analysis.reads_attribute(attr):
                        self.report(call, self.message.format(attr=attr), scope=context.analysis.scopes.get(method))

    @staticmethod
    def _own_creation(cls) -> list[cst.FunctionDef]:
        """The methods in which the layer makes its own weights: `__init__`, `build` and the
        helpers they call (`self._make_weights()`). A weight added from another method
        (`post_build_add`, a test poking at tracking) is for its caller to read."""
        methods = {name: cls.method(name) for c in cls.lineage() for name in c.methods}
        todo, seen = ["__init__", "build"], set()
        while todo:
            name = todo.pop()
            if name in seen or methods.get(name) is None:
                continue
            seen.add(name)
            todo.extend(n.func.attr.value for n in descendants(methods[name])
                        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute)
                        and isinstance(n.func.value, cst.Name) and n.func.value.value == "self")
        return [method for name, method in cls.methods.items() if name in seen]
