"""TGF4 — tape scope: what the `tf.GradientTape` records, and what it is asked for. One module
per rule; what they share is in `base`, what they know about tapes in `tfgradfix.analysis.tapes`."""

from tfgradfix.rules.tape.forward_outside_tape import ForwardOutsideTape
from tfgradfix.rules.tape.integer_source import IntegerSource
from tfgradfix.rules.tape.loss_outside_tape import LossOutsideTape
from tfgradfix.rules.tape.non_trainable_in_sources import NonTrainableInSources
from tfgradfix.rules.tape.unwatched_source import UnwatchedSource

__all__ = ["ForwardOutsideTape", "IntegerSource", "LossOutsideTape", "NonTrainableInSources", "UnwatchedSource"]
