"""TGF404: gradients with respect to an integer tensor."""

from __future__ import annotations

from tfgradfix.analysis.tapes import TapeBlock
from tfgradfix.fixes.edits import Applicability, Edit, Fix
from tfgradfix.fixes.literals import as_floats
from tfgradfix.rules.tape.base import TapeRule, integer_bindings, source_names


class IntegerSource(TapeRule):
    code = "TGF404"
    name = "integer-source"
    summary = "gradient taken with respect to an integer tensor"
    message = "`{name}` is an integer tensor: gradients exist only for floating-point sources, so this one is None"
    what = (
        "Finds `tape.gradient(y, x)` where `x` is an integer tensor: `tf.constant(3)`, "
        "`tf.Variable(2)`, `tf.constant([1, 2])`, `tf.range(5)`, or a constructor with an integer "
        "`dtype`. Both the tensor and its dtype are followed to the module's callers: a helper "
        "`def sensitivity(f, x)` called with `tf.constant([1, 2])`, or `tf.constant(v, "
        "dtype=dtype)` where every caller passes `tf.int32`. A name the function does not bind is "
        "followed to the enclosing function or the module (`b = tf.Variable(0)` at the top of a "
        "script whose `run_optimization()` differentiates it), unless a `global` statement may "
        "rebind it."
    )
    evidence = (
        "The source's dtype is certainly integer: an integer literal, an integer constructor or an integer "
        "`dtype=`, followed to the module's callers and enclosing scopes."
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

    def check(self, block: TapeBlock) -> None:
        for gradient in block.gradients:
            for source in source_names(gradient.sources):
                calls = integer_bindings(self, source.value)
                if calls is None:
                    continue
                fix = None
                literal = all(
                    self.context.imports.resolve(c.func) in ("tensorflow.constant", "tensorflow.Variable")
                    and not any(a.keyword is not None for a in c.args) for c in calls)
                if literal:
                    edits = tuple(Edit(c.args[0].value, as_floats(c.args[0].value)) for c in calls)
                    fix = Fix("Use float literals", edits, Applicability.UNSAFE)
                self.report(source, self.message.format(name=source.value), fix)
