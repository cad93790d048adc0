"""TGF203: `tf.Variable` attributes that Keras 3 does not track."""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import libcst as cst

from tfgradfix.analysis.frequency import runs_once
from tfgradfix.analysis.imports import is_integer_dtype
from tfgradfix.analysis.keras import (build_input_shape, builtin_read_only, defines_property, hands_out,
                                      initialised_before, never_runs)
from tfgradfix.analysis.objects import module_weights
from tfgradfix.analysis.roles import holds_state, passed_parameters
from tfgradfix.analysis.layer_state import (
    integer_names, keyword_value, known_values, read_by_call, read_in_forward, read_only_where_made, replaced_next,
    stored_on,
)
from tfgradfix.analysis.literals import is_false
from tfgradfix.analysis.vocabulary import TF_VARIABLE
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.fixes.variable_uses import recreation, rewrite_uses, type_tested
from tfgradfix.fixes.literals import is_integer_literal
from tfgradfix.fixes.weights import WeightTranslator
from tfgradfix.rules.base import Rule

class UntrackedVariableAttribute(Rule):
    code = "TGF203"
    name = "untracked-variable-attribute"
    summary = "`self.x = tf.Variable(...)` (or in a list/dict) in a Keras 3 `Layer`/`Model`"
    message = "`self.{attr}` holds a `tf.Variable`: Keras 3 does not track it, so it is not in `trainable_variables` and never trains"
    state_message = ("`self.{attr}` holds an integer `tf.Variable` (state, not a weight): Keras 3 does not track it, "
                     "so it is not in the model's `variables` and is not saved with it")
    triggers = ("Variable(",)
    what = (
        "Finds `tf.Variable(...)` stored on a Keras layer or model outside its forward pass "
        "(`__init__`, `build`, helpers they call): `self.w = tf.Variable(...)`, and variables kept in "
        "a list or dict on the layer (`self.ws = [tf.Variable(...) for ...]`, "
        "`self.ws.append(tf.Variable(...))`). A class is a Keras layer or model through any "
        "chain of base classes of the project, across modules (a subclass in `models.py` of a "
        "Keras base in `base.py`). Also in a model used as a TF module, with its own `__call__` "
        "and no `call` (measured with TF 2.21: Keras 3 does not track the variable there either; "
        "`tf.saved_model` exports it both before and after the fix). Evidence needed: the "
        "variable is a weight, not state (see `analysis/roles.py`): a variable made with "
        "`trainable=False`, written with `.assign*()` by the forward pass (a step counter, "
        "loss accumulators), or written by another method while the forward pass never reads "
        "it is not reported: nothing trains it, tracked or not. Nor is a variable that the "
        "module's training code lists by name (`tape.gradient(loss, [self.log_alpha])`, "
        "`apply_gradients(zip(grads, [self.w]))`, `minimize(loss, var_list=[self.w])`): it "
        "trains without Keras's tracking (a SAC temperature, a CURL bilinear weight). "
        "The same holds for a `tf.Module` the layer holds (`self.norm = VirtualBatchNorm(c)`) whose "
        "own trainable `tf.Variable`s its forward pass reads through it: a Keras 3 layer lists "
        "none of a module's variables (measured). That finding has no fix: the module has to "
        "become a Keras layer."
    )
    evidence = (
        "The class is a Keras layer or model (through the project's classes, across modules), the variable is "
        "made (not only in a branch a flag the class hard-codes never takes: `if self.<flag>:` with the flag only "
        "ever set to `False`, the `else` of one only ever set to `True` in `__init__`), the "
        "attribute keeps it (the next statements of the block do not rebind the attribute, as in `self.m = "
        "tf.tile(self.m[None], ...)`, and something besides the TensorFlow ops of the method that made it reads "
        "it: a variable only concatenated once into a table, or one nothing reads (an integer counter nothing "
        "steps or reads too: unsaved, it loses nothing), gets no gradient tracked or "
        "not), and it"
        " is a weight by what the code does with it (`analysis/roles.py`): not `trainable=False` (nor "
        "`trainable=learn_bias` with `learn_bias=False` the constructor's default, or `alpha[\"trainable\"]` "
        "with a default dict that says False, where no construction in the module passes that parameter), not an "
        "integer or boolean dtype, not written with `.assign*()` or `.scatter_*()` by the forward pass (nor "
        "with TF's function form, `tf.compat.v1.scatter_sub(centers, ...)`, also through a local name for "
        "the attribute), not written elsewhere "
        "while the forward pass never reads it, not listed by name (itself, or in a list attribute that "
        "holds it: `self.params = [self.k]`) to "
        "`tape.gradient`/`apply_gradients`/`minimize` (which train it untracked), in a class whose training "
        "does not differentiate a collection of its own making (`tape.gradient(loss, self._params)`: the "
        "class says what trains, so tracking decides nothing), and not handed out as the "
        "object's output (a `__call__` returning it, whose caller trains it by name), not listed by the class's "
        "own `trainable_variables()` / `trainable_weights` (its training asks the class), not in a layer that "
        "freezes itself in `__init__` (`self.trainable = False`: nothing of it trains, by design), nor in a layer that "
        "only Keras `Loss` subclasses construct (a perceptual loss's fixed input scaling: no optimizer is given a "
        "loss object's variables), and not an attribute a "
        "built-in base makes a read-only property in Keras 3 (`kernel` of `Conv1D`/`Dense`, `embeddings` of "
        "`Embedding`: the assignment itself raises there). The project runs on Keras "
        "3: code written for Keras 2 (`tf_keras`, `TF_USE_LEGACY_KERAS`, TF's private `tensorflow.python.keras`, or "
        "a layer or namespace only Keras 2's `tf.keras` has, imported at the module's top: `DenseFeatures`, "
        "`tf.keras.layers.experimental`, `tf.keras.experimental`, the CuDNN layers; `tf.compat.v1.keras` used "
        "anywhere outside an `if`; also "
        "in a module of a package whose `__init__` imports such a module, which Python runs first) "
        "or for TF 1.x (`tf.contrib`, `tf.Session`, `tf.train.AdamOptimizer`: `analysis/tf_version.py`) tracks the variable "
        "and is silent, as is code for multi-backend Keras (`keras.legacy.interfaces`), which Keras 3 cannot run. Made outside the forward pass, or in a `build` that `call` runs only once "
        "(`if not self.built:`, `except AttributeError:`): made on every call, it is TGF201/TGF202's. "
        "For a held `tf.Module`: its class is a `tf.Module` (here or through the project index), it makes "
        "trainable `tf.Variable`s that are weights by the same test, and `call` (or what it calls, or a "
        "property it reads) reads the attribute holding it."
    )
    why = (
        "Keras 3 (`tf.keras` from TensorFlow 2.16) tracks only the variables it creates itself "
        "(`add_weight`, `keras.Variable`). A `tf.Variable` attribute is invisible: "
        "`len(layer.trainable_variables) == 0`, `model.fit` never updates it, `model.save` does "
        "not store it, and nothing warns. TF 2.0-2.15 tutorials wrote layers exactly this way, "
        "so legacy code moved to TF >= 2.16 silently stops training."
    )
    example = (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        w_init = tf.random_normal_initializer()\n"
        '        self.w = tf.Variable(initial_value=w_init(shape=(input_dim, units), dtype="float32"), trainable=True)\n'
        '        self.b = tf.Variable(tf.zeros((units,)), name="b")\n'
        "        self.scale = tf.Variable(tf.random.normal((units,)) * 0.01)\n"
        "        self.rotation = tf.Variable(np.eye(units, dtype=np.float32))\n"
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(tf.matmul(inputs, self.w) + self.b, self.rotation) * self.scale\n"
    )
    fixed_example = (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "\n"
        "\n"
        "class Linear(tf.keras.layers.Layer):\n"
        "    def __init__(self, units, input_dim, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        w_init = tf.random_normal_initializer()\n"
        '        self.w = self.add_weight(name="w", shape=(input_dim, units), initializer=w_init, trainable=True, dtype="float32")\n'
        '        self.b = self.add_weight(name="b", shape=(units,), initializer="zeros")\n'
        '        self.scale = self.add_weight(name="scale", shape=(units,), initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.01))\n'
        "        initial_rotation = tf.convert_to_tensor(np.eye(units, dtype=np.float32))\n"
        '        self.rotation = self.add_weight(name="rotation", shape=initial_rotation.shape, initializer=tf.keras.initializers.Constant(value=initial_rotation), dtype=initial_rotation.dtype)\n'
        "\n"
        "    def call(self, inputs):\n"
        "        return tf.matmul(tf.matmul(inputs, self.w) + self.b, self.rotation) * self.scale\n"
    )
    fix_safety = (
        "Safe: the same shape, dtype, trainability and name (a variable without one is named after its attribute, "
        "not Keras's `variable_<n>`; a TF 1.x scoped name `a/b` becomes `a_b`, which Keras 3 accepts), and the initializer the code "
        "already names: an initializer object called with a shape keeps its name "
        '(`w_init(shape=s)` -> `initializer=w_init`; `tf.zeros_initializer()(s)` -> "zeros"); '
        "`tf.random.normal`/`uniform`/`truncated_normal` -> `RandomNormal`/`RandomUniform`/"
        "`TruncatedNormal` with their parameters spelled out (Keras's defaults differ); "
        '`tf.zeros`/`tf.ones` -> "zeros"/"ones"; `tf.fill`, `tf.ones(s) * c` and literals '
        "-> `Constant(c)` (an integer literal with a float `dtype=` is cast by it: "
        '`tf.Variable(0, dtype=tf.float32)` -> "zeros", `3` -> `Constant(value=3.0)`); `tf.random.normal(s) * c` -> `RandomNormal(stddev=c)`; '
        "NumPy's `np.zeros`/`np.ones`/`np.full` -> \"zeros\"/\"ones\"/`Constant(c)` with NumPy's dtype "
        'kept: `tf.Variable(np.zeros(n))` is a float64 variable, so the weight gets `dtype="float64"` '
        "(drop it by hand if float32 was meant). A length becomes a one-element shape "
        "(`np.zeros(n)` -> `shape=(n,)`) when `n` is certainly an int: a literal, arithmetic on ints, "
        "`len(...)`, a dimension `x.shape[-1]`, or a parameter annotated `int` or defaulting to an "
        "int (`units=32`), also through `self.units = units`. When it may be a shape as well, the "
        "value is kept as below and the fix's description says so. A value whose "
        "shape the code does not spell (a NumPy array, a tensor from elsewhere) is converted "
        "once into a named tensor and becomes `Constant(initial)` with that tensor's shape and "
        "dtype (no lambda: the layer still saves and loads as `.keras`, since Keras stores the "
        "weight's value, not its initializer). An integer variable that the forward pass only steps "
        "(`self.calls = tf.Variable(0)`, then `assign_add`) becomes a non-trainable counter, "
        '`add_weight(shape=(), initializer="zeros", trainable=False, dtype="int32")`: it never '
        "trained, and as a trainable Keras weight it would get a None gradient on every step. "
        "No fix, and the message says why, for an integer variable the forward pass reads as a "
        "value (TGF206 first), when `tf.Variable` takes arguments the fix does not carry over "
        "(`constraint=`, `shape=`, `synchronization=`), for a value of unknown shape inside a "
        "list or dict, or when a "
        "subclass turns the attribute into a property (its setter would get a Keras weight); "
        "an attribute that is a property of the class itself is not reported (the assignment "
        "runs its setter).\n\n"
        "A Keras 3 weight is not a `tf.Variable` and lacks part of its API (measured with TF 2.21 and "
        "Keras 3), so the uses of the attribute that it spells differently are rewritten in the same "
        "fix: `w.get_shape()` -> `w.shape`, `w.read_value()`/`w.value()` -> `tf.identity(w)`, "
        "`w.sparse_read(i)` -> `tf.gather(w, i)`, `w.gather_nd(i)` -> `tf.gather_nd(w, i)`, a statement "
        "`w.assign(v, read_value=False)` -> `w.assign(v)`, and `w.dtype` used as a `tf.DType` "
        "(`.is_floating`, `str()`) -> `tf.as_dtype(w.dtype)` (a Keras weight's dtype is a string; passed "
        "to a TF, Keras or NumPy call or compared with `==` it is kept). A use with no equivalent "
        "(`ref()`, `device`, `scatter_*`, `isinstance(w, tf.Variable)`, an `assign` whose result is used) "
        "means no fix, and the message names it; so does passing the attribute to a library other than "
        "TensorFlow, Keras and NumPy (TensorFlow Probability's bijectors and distributions read a Keras "
        "weight as a constant: measured, no gradient), or to a `@tf.function` of the module or the class as an "
        "argument (traced by `fit` or an outer `tf.function`, it asks a Keras weight for a NumPy value and "
        "raises `NotImplementedError`, measured with TF 2.21; a `tf.Variable` there works). Uses are read in this module: `self.w` in the class, "
        "its parents and subclasses, `obj.w` anywhere, names bound to it (`for w in self.ws`), and the parameter "
        "of a method of the class or a function of the module it is handed to (`self.mult(x, self.W)`, then "
        "`B.get_shape()` there becomes `B.shape`, a TensorShape for a tensor too); of other "
        "modules, only a test of the attribute's type (`type(layer.a)` in a course's grader) is looked for, "
        "and it makes the fix unsafe.\n\n"
        "Arithmetic with NumPy: `np.float64 * w` is a TF tensor for a `tf.Variable` (TensorFlow "
        "takes the operation) but a NumPy array with no gradient for a Keras weight, and `w * "
        "np.float64(c)` is float64 where it was float32 (measured). So where the left operand of "
        "an arithmetic use is NumPy (`self.coef = gain / np.sqrt(fan_in)`, then `self.coef * w`) there "
        "is no fix; where it cannot tell what that operand is (returned by a helper, read from "
        "elsewhere), or a NumPy operand is on the weight's right, the fix is unsafe and its "
        "description names the use. An operand that is a tensor, a weight, a layer input, a value "
        "computed from the weights, or a Python number (a literal, `float()`, a parameter defaulting "
        "to a number, kept as `self.gain = gain`) keeps it safe.\n\n"
        "A variable the layer's forward methods (`call`, `__call__`, `train_step` and the methods they "
        "call on `self`) never read, only a loss or training method (loss-balancing weights), gets "
        "an unsafe fix: made trainable, only the loss moves it, and a plain multiplier of a positive "
        "loss would only shrink; whether it should train is the author's intent. A variable with an "
        "open shape (`validate_shape=False`, `shape=[None, ...]`) is a buffer, not a weight, and is "
        "not reported.\n\n"
        "Positional arguments are read as `tf.Variable` reads them (`initial_value, trainable, "
        "validate_shape, caching_device, name, ...`): `tf.Variable([0.0], tf.float32)` is a trainable "
        "variable of the value's dtype (`tf.float32` is only truthy), and the weight is that, never "
        "`trainable=tf.float32`; the message says the argument looks like a slip for `dtype=`.\n\n"
        "One weight per attribute: a class whose subclass in the module creates the attribute again "
        "after the class's own creation ran gets no fix (its weight would stay in the subclass's "
        "`trainable_variables`, a second weight nothing reads), and a subclass's creation is fixed only "
        "where it certainly runs after its parent's (after `super().__init__()` in the same method, or "
        "in `build` after the parent's `__init__`).\n\n"
        "Only for Keras 3. A project on Keras 2 (it imports `tf_keras`, or sets "
        "`TF_USE_LEGACY_KERAS=1`) tracks these variables; files that import `tf_keras` or `tensorflow.python.keras` or name "
        "`TF_USE_LEGACY_KERAS`, or use an API only TF 1.x has (`tf.contrib`, `tf.Session`, `tf.placeholder`), are skipped, and `--ignore TGF203` turns the rule off everywhere."
    )

    _slip: Optional[str] = None  # what `tf.Variable` made of a positional slip, for the message

    module_message = ("`self.{attr}` holds a `tf.Module` (`{cls}`): Keras 3 does not track a module's "
                      "variables, so {weights} {are} not in `trainable_variables` and never train{s} "
                      "(no fix: make `{cls}` a `keras.layers.Layer` whose `build` makes them with `add_weight`)")

    def visit_Call(self, node: cst.Call) -> None:
        context = self.context
        scope = context.scope
        if scope.keras_class is None or scope.keras_class.legacy or context.analysis.legacy_keras:
            return
        if scope.forward and not (isinstance(scope.node, cst.FunctionDef) and scope.node.name.value == "build"
                                  and runs_once(context, node)):
            return  # made on every call: TGF201/TGF202's business
        if context.imports.resolve(node.func) not in TF_VARIABLE:
            self._module_attribute(node)
            return
        attr = stored_on(context, node)
        if attr is None:
            return
        cls = scope.keras_class
        if never_runs(cls, node, context.parent):
            return  # in a branch a flag the class hard-codes never takes (`if self.use_bias:`): never made
        if replaced_next(context, node, attr) or (
                isinstance(scope.node, cst.FunctionDef) and read_only_where_made(context, cls, attr, scope.node)):
            # The attribute holds what the next statements compute from it, or only they read it:
            # the variable's gradient is lost to that one-off computation (TGF205), tracked or not.
            return
        function = scope.node if isinstance(scope.node, cst.FunctionDef) else None
        # What a construction of the class passes, the default does not decide.
        given = passed_parameters(function, context.analysis.constructions_of(cls.name)) if (
            function is not None and function.name.value == "__init__") else frozenset()
        if holds_state(node, context.imports, function, given):
            return  # declared state (`trainable=False`, an integer dtype), wherever it is stored
        if (cls.is_state(attr) or context.analysis.is_trained_by_name(cls, attr) or hands_out(cls, attr)
                or context.analysis.trains_its_own_list(cls) or cls.lists_own_variables(attr) or cls.frozen
                or context.analysis.held_only_by_losses(cls)):
            # State the code writes: nothing trains it, tracked or not. A variable the training
            # code lists by name (`tape.gradient(loss, [self.log_alpha])`), or one the object hands
            # out as its output (`__call__` returning it), or that its own `trainable_variables()`
            # lists, trains untracked; a layer frozen in its `__init__`, or one only a loss object
            # holds, trains nothing by design.
            return
        if any(defines_property(c, attr) for c in cls.lineage()):
            return  # the assignment runs a setter: what it stores is the setter's business
        if builtin_read_only(cls, attr, context.imports):
            return  # Keras 3 raises on the assignment itself (a read-only `kernel`): no silent loss
        message = self.message.format(attr=attr)
        subclass = next((c for c in context.analysis.keras_classes.values()
                         if c is not cls and cls in c.lineage() and defines_property(c, attr)), None)
        if subclass is not None:
            self.report(node, f"{message} (no fix: `{subclass.name}` makes `{attr}` a property whose setter "
                              "stores its own variable, and would receive a Keras weight instead)")
            return
        # `tf.Variable(0, dtype=tf.float32)` is a float: its dtype casts the literal.
        trainable_integer = (node.args and node.args[0].keyword is None and is_integer_literal(node.args[0].value)
                             and keyword_value(node, "dtype") is None
                             and not is_false(keyword_value(node, "trainable")))
        if trainable_integer and read_in_forward(context, cls, attr):
            self.report(node, f"{message} (no fix: an integer variable cannot train either; TGF206 makes it a "
                              "float with `--unsafe-fixes`, and the next pass makes that a weight)")
            return
        dtype = keyword_value(node, "dtype")
        integer = trainable_integer or (dtype is not None and is_integer_dtype(context.scope.dtype_name(dtype))
                                        and keyword_value(node, "trainable") is None)
        counter = bool(integer) and not read_in_forward(context, cls, attr)
        if not context.analysis.reads_attribute(attr):
            # A weight nothing reads never trains, tracked or not (TGF207's finding, for `add_weight`);
            # a counter nothing steps or reads (`self.k = tf.Variable(0)` beside a loop that counts in
            # a fresh `k`) is state no one keeps: unsaved, it loses nothing.
            return
        fix, reason = self._fix(node, attr, counter=counter)
        if counter:  # an integer never trains, tracked or not: what Keras 3 loses is the state
            message = self.state_message.format(attr=attr)
        if fix is not None and self._slip is not None:
            message += f" ({self._slip})"
        self.report(node, message if fix is not None else f"{message} (no fix: {reason})", fix)

    def _module_attribute(self, node: cst.Call) -> None:
        """`self.norm = VirtualBatchNorm(...)`, a `tf.Module` with its own `tf.Variable`s, held by a
        Keras layer whose forward pass reads it (measured: a Keras 3 layer lists none of them)."""
        context = self.context
        cls = context.scope.keras_class
        attr = stored_on(context, node)
        if attr is None or not read_by_call(cls, attr) or context.analysis.is_trained_by_name(cls, attr):
            return
        weights = module_weights(context.analysis, node.func)
        if not weights:
            return
        shown = ", ".join(f"`{w}`" for w in weights)
        self.report(node, self.module_message.format(
            attr=attr, cls=cst.Module([]).code_for_node(node.func), weights=shown,
            are="are" if len(weights) > 1 else "is", s="" if len(weights) > 1 else "s"))

    def _fix(self, node: cst.Call, attr: str, counter: bool) -> tuple[Optional[Fix], Optional[str]]:
        """The fix, or None and why. A `counter` (`tf.Variable(0)` that the forward pass only
        steps) becomes a non-trainable int32 weight: it never trained, and as a trainable
        Keras weight it would get a None gradient on every step."""
        context = self.context
        assign = context.parent(node)
        statement = context.parent(assign)
        direct = (isinstance(assign, cst.Assign) and assign.value is node
                  and isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1)
        initial = f"initial_{attr.lstrip('_')}" if direct else None
        cls = context.scope.keras_class
        method = context.scope.node
        if isinstance(method, cst.FunctionDef) and method.name.value == "__init__" \
                and not initialised_before(method, node):
            return None, ("it is made before `super().__init__()` runs, and Keras 3 refuses `add_weight` on a "
                          "layer not yet initialised")
        translator = WeightTranslator(context.imports, known_values(context, cls), integers=integer_names(cls),
                                      shapes=build_input_shape(method))
        weight = translator.from_variable(node, initial=initial)
        self._slip = translator.slip
        if weight is None:
            return None, translator.reason
        # Preconditions: the only weight of its name, and every use of it works on a Keras weight.
        why = recreation(context, cls, attr, node)
        (uses, risks), unsupported = rewrite_uses(context, cls, attr, translator.tf)
        if why is not None or unsupported is not None:
            return None, why or unsupported
        if weight.name is None:  # named after its attribute, not Keras's `variable_<n>`
            weight = replace(weight, name=cst.SimpleString(f'"{attr}"'))
        description = "Create it with `self.add_weight`"
        if counter:
            weight = replace(weight, trainable=cst.Name("False"))
            description = "Create it with `self.add_weight` as a non-trainable counter"
        if uses:
            description += ", and its uses that a Keras weight spells differently"
        if self._slip is not None:
            description += f" ({self._slip})"
        tester = type_tested(context, attr)
        if tester is not None:
            risks.append(f"`{tester}` tests the type of `.{attr}`, and a Keras weight is a `keras.Variable`, not "
                         "a `tf.Variable`")
        if not counter and not read_by_call(cls, attr):
            # Loss-balancing weights a loss method multiplies by: trained by descent on a positive
            # loss they would only shrink. Whether they should train is the author's call.
            risks.append(f"nothing on the forward pass reads `self.{attr}`: made trainable, only the loss "
                         "would move it, which may not be what it is for")
        applicability = Applicability.SAFE
        if risks:
            applicability = Applicability.UNSAFE
            description += f" (unsafe: {'; '.join(risks)})"
        if weight.prelude is None:
            return Fix(description, (Edit(node, weight.add_weight()), *uses), applicability), None
        prelude = weight.prelude.with_changes(leading_lines=statement.leading_lines)
        rest = statement.with_changes(leading_lines=[], body=[assign.with_changes(value=weight.add_weight())])
        if weight.note is not None:
            description += f" ({weight.note})"
        return Fix(description, (Edit(statement, cst.FlattenSentinel([prelude, rest])), *uses), applicability), None
