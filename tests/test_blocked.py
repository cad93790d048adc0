"""TGF3 rules beyond what the golden fixtures show: which weight a stop_gradient cuts off."""

from __future__ import annotations

from pathlib import Path

from tfgradfix.engine import Engine
from tfgradfix.files import read_source
from tfgradfix.rules import RULES_BY_CODE

from conftest import FIXTURES


def _findings(path: Path, code: str):
    result = Engine([RULES_BY_CODE[code]], fix=False).process(read_source(str(path)))
    assert result.error is None
    return [f for f in result.findings if f.code == code]


def test_stop_gradient_on_one_weight_names_that_weight():
    findings = _findings(FIXTURES / "TGF301" / "frozen_projection.py", "TGF301")
    assert len(findings) == 1
    assert "`self.gate_kernel`" in findings[0].message
    assert "`self.value_kernel`" not in findings[0].message
    assert "other weights still reach it" in findings[0].message


def test_the_same_layer_outside_a_test_is_reported(tmp_path):
    """ok_frozen_in_test is silent because it is a test, not because the analysis misses it."""
    text = (FIXTURES / "TGF301" / "ok_frozen_in_test.py").read_text(encoding="utf-8")
    path = tmp_path / "layer.py"
    path.write_text(text[:text.index("def test_")], encoding="utf-8")
    findings = _findings(path, "TGF301")
    assert [f.line for f in findings] == [11]
    assert "`self.b`" in findings[0].message


def _vq_variant(tmp_path, old: str, new: str) -> Path:
    text = (FIXTURES / "TGF301" / "ok_vq_quantizer.py").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "quantizer.py"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_codebook_trained_only_through_add_loss_is_not_cut_off(tmp_path):
    """ok_vq_quantizer is silent because the codebook loss reaches the codebook: without that
    term in `add_loss`, the commitment stop_gradient does cut the codebook off."""
    path = _vq_variant(tmp_path, "self.add_loss(self.beta * commitment + codebook_loss)",
                       "self.add_loss(self.beta * commitment)")
    assert [f.line for f in _findings(path, "TGF301")] == [23]


def test_a_straight_through_estimator_is_silent_whichever_side_the_weights_are_on(tmp_path):
    """The moving-average quantizer's weights reach the output only through `quantized`, inside
    the estimator. The same value stopped outright is silent while the codebook is state (made
    `trainable=False`, written with `.assign`): no trainable weight is cut off; with a trainable
    codebook it is reported."""
    path = _vq_variant(tmp_path, "        return x + tf.stop_gradient(quantized - x)\n",
                       "        return tf.stop_gradient(quantized)\n")
    assert _findings(path, "TGF301") == []
    text = path.read_text(encoding="utf-8").replace('trainable=False, name="codebook"', 'name="codebook"')
    path.write_text(text.replace("            self.codebook.assign(", "            means = (", 1), encoding="utf-8")
    assert [f.line for f in _findings(path, "TGF301")] == [57]
    for ste in ("tf.stop_gradient(quantized - x) + x", "x - tf.stop_gradient(x - quantized)"):
        path = _vq_variant(tmp_path, "x + tf.stop_gradient(quantized - x)\n", ste + "\n")
        assert _findings(path, "TGF301") == []


def test_a_surrogate_loss_stopped_whole_is_reported(tmp_path):
    """ok_surrogate_loss_of_weights is silent because the weight read from the variables list
    multiplies the stopped gradient: stop the product and nothing reaches the weights."""
    text = (FIXTURES / "TGF301" / "ok_surrogate_loss_of_weights.py").read_text(encoding="utf-8")
    old = "tf.reduce_sum(weight * tf.stop_gradient(direction))"
    assert old in text
    path = tmp_path / "update.py"
    path.write_text(text.replace(old, "tf.reduce_sum(tf.stop_gradient(weight * direction))"), encoding="utf-8")
    assert [f.line for f in _findings(path, "TGF301")] == [19]
