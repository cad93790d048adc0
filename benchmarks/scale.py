"""How the cost of checking one file grows with its size: seconds and peak memory of
`tfgradfix check` on generated files of 1k to 50k lines, each next to LibCST's parse of
the same file in the same run (the floor for a LibCST tool).

    python benchmarks/scale.py [--lines 1000,5000,20000,50000]

The file repeats a few realistic units under new names: a Keras layer with `build` and a
NumPy slip in `call`, a residual block of sub-layers, a model with its own `train_step`,
a custom training function with a `GradientTape`, a loss helper the tape calls, and plain
data-preparation code. Each size runs in a process of its own, so its peak memory (max
RSS) is its own; seconds are CPU seconds of that process (other jobs on a shared machine do
not inflate them), index and check together, as `tfgradfix check FILE` runs them. A cost that grows linearly keeps `check / parse` and `MB per 1k lines`
flat down the table; a ratio that climbs with the size is a superlinear step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNIT = '''

class Scaled{i}(keras.layers.Layer):
    """A dense layer whose call leaves TensorFlow."""

    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        x = np.dot(inputs, self.kernel) + self.bias
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update({{"units": self.units}})
        return config


class Block{i}(keras.layers.Layer):
    def __init__(self, filters, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 3, padding="same")
        self.norm = keras.layers.BatchNormalization()
        self.drop = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        y = self.conv(inputs)
        y = self.norm(y, training=training)
        y = tf.nn.relu(y)
        y = self.drop(y, training=training)
        scale = np.sqrt(float(inputs.shape[-1]))
        return inputs + y / scale


class Model{i}(keras.Model):
    def __init__(self, classes=10):
        super().__init__()
        self.block = Block{i}(16)
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = Scaled{i}(classes)

    def call(self, inputs, training=False):
        return self.head(self.pool(self.block(inputs, training=training)))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            loss = self.compiled_loss(y, logits)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {{"loss": loss}}


def smooth_loss{i}(labels, logits, smoothing=0.1):
    labels = tf.cast(labels, logits.dtype)
    labels = labels * (1.0 - smoothing) + smoothing / float(logits.shape[-1])
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels, logits))


def train{i}(model, dataset, optimizer, epochs=1):
    history = []
    for epoch in range(epochs):
        for step, (x, y) in enumerate(dataset):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = smooth_loss{i}(y, logits)
            grads = tape.gradient(loss, model.variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            history.append(float(loss.numpy()))
            if step % 100 == 0:
                print(f"epoch {{epoch}} step {{step}}: {{np.mean(history[-100:]):.4f}}")
    return history


def prepare{i}(images, labels, batch=32):
    images = np.asarray(images, dtype=np.float32) / 255.0
    order = np.random.permutation(len(images))
    images, labels = images[order], np.asarray(labels)[order]
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch)
'''

HEAD = '''"""Generated for benchmarks/scale.py: realistic Keras units under new names."""

import numpy as np
import tensorflow as tf
from tensorflow import keras
'''


def large_module(lines: int) -> str:
    """About `lines` lines: the head, then the units repeated with numbered names."""
    per_unit = UNIT.count("\n")
    return HEAD + "".join(UNIT.format(i=i) for i in range(max(1, round(lines / per_unit))))


def _measure(path: str, what: str) -> None:
    """In this process (a child of main): run `what` on the file, print seconds and max RSS."""
    from tfgradfix.files import read_source

    source = read_source(path)
    start = time.process_time()
    if what == "parse":
        import libcst as cst

        cst.parse_module(source.text)
        findings = 0
    else:
        from tfgradfix.engine import Engine
        from tfgradfix.analysis.project import ProjectIndex
        from tfgradfix.rules import ALL_RULES

        project = ProjectIndex.build([path], tuple({t for rule in ALL_RULES for t in rule.triggers}))
        result = Engine(ALL_RULES, project=project).process(source)
        assert result.error is None, result.error
        findings = len(result.findings)
    seconds = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "findings": findings}))


def _child(path: str, what: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", what, path], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="1000,5000,20000,50000",
                        help="comma-separated sizes (default: 1000,5000,20000,50000)")
    parser.add_argument("--measure", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure(args.measure[1], args.measure[0])
        return
    baseline = _child(__file__, "parse")  # the interpreter and imports alone: subtracted from nothing, shown
    print(f"{'lines':>8} {'findings':>9} {'check s':>9} {'parse s':>9} {'check/parse':>12} "
          f"{'peak MB':>9} {'parse MB':>9} {'MB/1k lines':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for lines in (int(n) for n in args.lines.split(",")):
            path = Path(folder) / f"scaled_{lines}.py"
            text = large_module(lines)
            path.write_text(text)
            parse, check = _child(str(path), "parse"), _child(str(path), "check")
            count = text.count("\n")
            print(f"{count:>8,} {check['findings']:>9,} {check['seconds']:>9.2f} {parse['seconds']:>9.2f} "
                  f"{check['seconds'] / parse['seconds']:>12.2f} {check['peak_mb']:>9.0f} {parse['peak_mb']:>9.0f} "
                  f"{check['peak_mb'] / count * 1000:>12.1f}", flush=True)
    print(f"(a process that reads a tiny file peaks at {baseline['peak_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
