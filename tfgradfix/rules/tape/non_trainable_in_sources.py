"""TGF405: `model.variables` / `model.weights` as sources on a model that holds non-trainable state."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from tfgradfix.analysis.dataflow import walk_scope, name_nodes, names_in, target_names
from tfgradfix.analysis.imports import dotted_name
from tfgradfix.analysis.keras import HeldState
from tfgradfix.analysis.objects import Kind, describe
from tfgradfix.analysis.tapes import GradientCall, TapeBlock
from tfgradfix.analysis.tree import contains
from tfgradfix.fixes.edits import Edit, Fix
from tfgradfix.rules.tape.base import TapeRule


class NonTrainableInSources(TapeRule):
    code = "TGF405"
    name = "non-trainable-in-sources"
    summary = "`tape.gradient(loss, model.variables / .weights)` on a model that holds non-trainable variables"
    message = "`{owner}.{attr}` includes non-trainable variables ({why}): their gradients are None"
    what = (
        "Finds `tape.gradient(loss, model.variables)` and `tape.gradient(loss, model.weights)` "
        "(also through a name bound to them) when `model` is a Keras model or layer, or a "
        "`tf.Module`, that holds non-trainable variables: it is built with "
        "BatchNormalization, Normalization or another layer with non-trainable weights, a weight "
        "made with `trainable=False`, a part frozen with `.trainable = False`, or a "
        "`keras.applications` network that uses BatchNormalization. For `model.variables` it "
        "also counts Keras 3's Dropout, noise and random augmentation layers and its recurrent layers "
        "and cells (`LSTM`, `GRU`, `SimpleRNN`, their cells, `ConvLSTM2D`), whose seed generator is a "
        "variable but not a weight (so "
        "`model.weights` of a model with Dropout is left alone). What `model` is comes from "
        "where its value is made: an assignment in the function or module, what the module's "
        "callers pass for a parameter, `self.attr = ...` in the class, a module function that "
        "returns it. A class of another module of the project counts with what the project "
        "index knows of it: that evidence in its body, in its bases and in the classes it "
        "constructs (sub-layers, sub-models, a list of blocks), transitively and across modules. "
        "`tf.Module`s and layers whose variables are all trainable, plain Python "
        "objects with their own `weights`, and objects the module cannot tell are not reported."
    )
    evidence = (
        "The object certainly holds non-trainable variables in the list passed: for `weights`, a layer "
        "with non-trainable weights (BatchNormalization, Normalization), a `trainable=False` weight, a "
        "part frozen with `.trainable = False`, or a `keras.applications` network with BatchNormalization; "
        "for `variables`, those or Keras 3's seed state (Dropout, noise, random augmentation, and every "
        "recurrent layer or cell, whatever its dropout; a `stateful=True` layer's states are in neither list) "
        "(the seed state only in Keras 3 code: Keras 2's and TF 1.x's noise and recurrent layers "
        "hold no such variable, nor does a module that uses a Keras 2-only layer (`tf.compat.v1.keras.layers."
        "CuDNNLSTM`) outside any `if`, which runs on Keras 2 alone; and only for a rate above zero: `Dropout(0.)`, or `Dropout(dropout)` with a constructor "
        "parameter `dropout=0.` that the construction of the layer leaves, makes no seed generator). It is known "
        "from where the object is made, through the project "
        "index. Objects the analysis cannot tell are silent."
    )
    why = (
        "`variables` and `weights` include non-trainable state such as BatchNormalization's "
        "moving mean and variance. The tape returns `None` for those, and "
        "`optimizer.apply_gradients` warns `Gradients do not exist for variables` (or raises "
        "for a list that has only such variables)."
    )
    example = (
        "import keras\n"
        "import tensorflow as tf\n"
        "\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),\n"
        "                          keras.layers.BatchNormalization(), keras.layers.Dense(1)])\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, model(x, training=True))\n"
        "grads = tape.gradient(loss, model.variables)\n"
        "optimizer.apply_gradients(zip(grads, model.variables))\n"
    )
    fixed_example = (
        "import keras\n"
        "import tensorflow as tf\n"
        "\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),\n"
        "                          keras.layers.BatchNormalization(), keras.layers.Dense(1)])\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = loss_fn(y, model(x, training=True))\n"
        "grads = tape.gradient(loss, model.trainable_variables)\n"
        "optimizer.apply_gradients(zip(grads, model.trainable_variables))\n"
    )
    fix_safety = (
        "Safe: the sources become `trainable_variables` (`trainable_weights`), and so does every "
        "list the gradients are paired with in the function, so both keep the same order: "
        "`zip(grads, model.variables)` anywhere (inside `apply_gradients(...)`, comprehensions, "
        "after `tf.clip_by_global_norm`), positional calls such as `optimizer.apply(grads, "
        "model.variables)`, and a name bound to `model.variables` that is used for both. When "
        "the gradients go where the pairing cannot be seen (a helper of the module, another "
        "list, a caller that zips the returned gradients), the finding has no fix."
    )
    _TRAINABLE = {"variables": "trainable_variables", "weights": "trainable_weights"}
    # Calls that pair gradients with variables by position.
    _PAIRING_METHODS = ("apply_gradients", "apply", "minimize")

    def check(self, block: TapeBlock) -> None:
        for gradient in block.gradients:
            listed = self._listed(gradient.sources)
            if listed is None:
                continue
            attribute, alias = listed
            owner = dotted_name(attribute.value)
            if owner is None or self.context.imports.resolve(attribute.value) is not None:
                continue
            model = describe(self.context.scope, attribute.value)
            # Keras 3 keeps a seed generator's state (Dropout's, a recurrent layer's) in `variables` only.
            needed = HeldState.WEIGHTS if attribute.attr.value == "weights" else HeldState.VARIABLES
            if not ((model.is_keras or model.kind is Kind.TF_MODULE) and model.non_trainable >= needed):
                continue
            fix = None
            paired = self._paired(gradient, attribute, alias)
            if paired is not None:
                edits = tuple(
                    Edit(a, a.with_changes(attr=cst.Name(self._TRAINABLE[a.attr.value])))
                    for a in [attribute, *paired])
                fix = Fix(f"Use `{owner}.{self._TRAINABLE[attribute.attr.value]}`", edits)
            if model.kind is Kind.TF_MODULE:
                why = "`trainable=False`"
            elif model.non_trainable is HeldState.WEIGHTS:
                why = "frozen or stateful parts"
            else:
                why = "Keras 3's seed generator state"
            self.report(gradient.sources, self.message.format(owner=owner, attr=attribute.attr.value, why=why), fix)

    def _listed(self, sources: Optional[cst.BaseExpression]) -> Optional[tuple[cst.Attribute, Optional[str]]]:
        """`model.variables` as the sources, directly or through a name bound once to it."""
        if isinstance(sources, cst.Attribute) and sources.attr.value in self._TRAINABLE:
            return sources, None
        flow = self.context.flow
        if isinstance(sources, cst.Name) and flow is not None:
            values = [b.value for b in flow.bindings if b.name == sources.value]
            if (len(values) == 1 and isinstance(values[0], cst.Attribute)
                    and values[0].attr.value in self._TRAINABLE):
                return values[0], sources.value
        return None

    def _paired(self, gradient: GradientCall, attribute: cst.Attribute,
                alias: Optional[str]) -> Optional[list[cst.Attribute]]:
        """Every `owner.variables` the gradients are paired with, or None when some
        pairing cannot be followed."""
        scope = self.context.scope
        flow = self.context.flow
        if flow is None:
            return None
        listed = dotted_name(attribute)
        trainable = f"{dotted_name(attribute.value)}.{self._TRAINABLE[attribute.attr.value]}"
        grads = self._gradient_names(gradient, flow)
        if grads is None:
            return None

        def is_gradients(expr: cst.BaseExpression) -> bool:
            return expr is gradient.call or any(n in grads for n in names_in(expr))

        paired: list[cst.Attribute] = []
        paired_alias = 0
        for node in walk_scope(scope.body):
            if isinstance(node, cst.Return) and node.value is not None and is_gradients(node.value):
                if not self._callers_keep_apart(scope):
                    return None
            if not isinstance(node, cst.Call) or node is gradient.call:
                continue
            if not any(is_gradients(a.value) for a in node.args):
                continue
            callee = node.func
            pairing = (isinstance(callee, cst.Name) and callee.value == "zip") or (
                isinstance(callee, cst.Attribute) and callee.attr.value in self._PAIRING_METHODS)
            if not pairing:
                qualified = self.context.imports.resolve(callee) or ""
                if qualified.split(".", 1)[0] in ("tensorflow", "keras") or (
                        isinstance(callee, cst.Name) and callee.value in ("len", "print", "list", "tuple",
                                                                          "enumerate", "any", "all")):
                    continue  # an op over the gradients that keeps their order
                return None
            for arg in node.args:
                value = arg.value
                if is_gradients(value):
                    continue
                text = dotted_name(value)
                if text == listed and isinstance(value, cst.Attribute):
                    paired.append(value)
                elif text is not None and text in (alias, trainable):
                    paired_alias += text == alias
                elif arg.keyword is None:
                    return None  # paired with some other list
        if alias is not None and paired_alias + 1 != self._reads_of(alias):
            return None  # the bound list is used apart from the gradients too
        return paired

    def _reads_of(self, name: str) -> int:
        """How many times the scope reads `name` (every mention, less the assignments to it)."""
        flow = self.context.flow
        mentions = sum(1 for statement in self.context.scope.body for n in name_nodes(statement) if n.value == name)
        return mentions - sum(1 for b in flow.bindings if b.name == name) if flow is not None else mentions

    @staticmethod
    def _gradient_names(gradient: GradientCall, flow) -> Optional[set[str]]:
        """The names that hold the gradients, and those computed from them
        (`grads, _ = tf.clip_by_global_norm(grads, 5.0)`)."""
        statement = gradient.statement
        small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
        names: set[str] = set()
        if isinstance(small, cst.Assign) and small.value is gradient.call:
            if not all(isinstance(t.target, cst.Name) for t in small.targets):
                return None
            names = {t.target.value for t in small.targets}
        changed = True
        while changed:
            changed = False
            for binding in flow.bindings:
                if binding.name not in names and (
                        binding.value is gradient.call or set(names_in(binding.value)) & names):
                    names.add(binding.name)
                    changed = True
        return names

    def _callers_keep_apart(self, scope) -> bool:
        """Whether no caller in the module zips the gradients this function returns
        with variables of its own."""
        for caller, call in self.context.analysis.callers_of(scope):
            bound = {name for node in walk_scope(caller.body) if isinstance(node, cst.Assign) and node.value is call
                     for t in node.targets for name in target_names(t.target)}
            for node in walk_scope(caller.body):
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "zip":
                    if contains(node, call):
                        return False
                    if bound & set(names_in(node)):
                        return False
        return True
