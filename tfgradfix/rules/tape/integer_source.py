"""TGF404: gradients with respect to an integer tensor."""

from __future__ import annotations

from tfgradfix.analysis.tapes import TapeBlock
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.analysis.literals import is_integer_literal
from tfgradfix.fixes.literals import as_floats
from tfgradfix.rules.tape.base import TapeRule, integer_bindings, integer_callers, source_names


class IntegerSource(TapeRule):
    code = "TGF404"
    name = "integer-source"
    summary = "gradient taken with respect to an integer tensor"
    message = "`{name}` is an integer tensor: gradients exist only for floating-point sources, so this one is None"
    what = (
        "Finds `tape.gradient(y, x)` where `x` is an integer tensor: `tf.constant(3)`, "
        "`tf.Variable(2)`, `tf.constant([1, 2])`, `tf.range(5)`, or a constructor with an integer "
        "`dtype`, an integer NumPy array (`.astype(np.uint8)`), a constructor without `dtype` "
        "of an integer value (`tf.Variable(tf.zeros(s, dtype=tf.int32))`, "
        "`tf.convert_to_tensor(images.astype(np.uint8))`), or a helper of the module every "
        "return of which is one. Both the tensor and its dtype are followed to the module's callers: a helper "
        "`def sensitivity(f, x)` called with `tf.constant([1, 2])`, or `tf.constant(v, "
        "dtype=dtype)` where every caller passes `tf.int32`. Where one caller passes an "
        "integer tensor and the others pass values the module cannot see into (a batch "
        "parameter, a project helper's result), the finding names that caller; a caller "
        "passing a float tensor or any other known value keeps it silent. A name the function does not bind is "
        "followed to the enclosing function or the module (`b = tf.Variable(0)` at the top of a "
        "script whose `run_optimization()` differentiates it), unless a `global` statement may "
        "rebind it."
    )
    evidence = (
        "The source's dtype is certainly integer: an integer literal, an integer constructor or an integer "
        "`dtype=`, an integer cast or `.astype`, or a constructor of such a value, followed to the module's "
        "callers, helpers and enclosing scopes. From callers: at least one passes an integer tensor and none "
        "passes a value known to be anything else."
    )
    why = (
        "TensorFlow differentiates only floating-point (and complex) tensors. For an integer "
        "source the tape logs `The dtype of the source tensor must be floating` and returns "
        "`None`; an integer `tf.Variable` is not even watched."
    )
    example = (
        "import tensorflow as tf\n"
        "\n"
        "x = tf.constant(3)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = x * x\n"
        "dy_dx = tape.gradient(y, x)\n"
    )
    fixed_example = (
        "import tensorflow as tf\n"
        "\n"
        "x = tf.constant(3.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = x * x\n"
        "dy_dx = tape.gradient(y, x)\n"
    )
    fix_safety = (
        "Unsafe (applied with `--unsafe-fixes`): integer literals in the constructor become "
        "floats (`3` -> `3.0`), which changes the tensor's dtype and so the results of integer "
        "arithmetic downstream (`7 // 2`). Constructors with an explicit integer `dtype` are "
        "reported without a fix."
    )

    _FROM_CALLERS = ("`{name}` is an integer tensor where {callers} passes it: gradients exist only for "
                     "floating-point sources, so this one is None")

    def check(self, block: TapeBlock) -> None:
        for gradient in block.gradients:
            for source in source_names(gradient.sources):
                calls = integer_bindings(self, source.value)
                if calls is None:
                    callers = integer_callers(self, source.value)
                    if callers:
                        self.report(source, self._FROM_CALLERS.format(
                            name=source.value, callers=", ".join(f"`{c}`" for c in callers)))
                    continue
                fix = None
                literal = all(
                    self.context.imports.resolve(c.func) in ("tensorflow.constant", "tensorflow.Variable")
                    and len(c.args) == 1 and is_integer_literal(c.args[0].value) for c in calls)
                if literal:
                    edits = tuple(Edit(c.args[0].value, as_floats(c.args[0].value)) for c in calls)
                    fix = Fix("Use float literals", edits, Applicability.UNSAFE)
                self.report(source, self.message.format(name=source.value), fix)
