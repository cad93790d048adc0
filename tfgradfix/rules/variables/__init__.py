"""TGF2 — variables Keras does not track, or the tape cannot see. One module per rule;
what they share about a layer's variables is in `tfgradfix.analysis.layer_state`."""

from tfgradfix.rules.variables.assign_on_forward_path import AssignOnForwardPath
from tfgradfix.rules.variables.derived_weight_in_build import DerivedWeightInBuild
from tfgradfix.rules.variables.initializer_as_weight import InitializerAsWeight
from tfgradfix.rules.variables.integer_variable import IntegerVariable
from tfgradfix.rules.variables.layer_in_call import LayerInCall
from tfgradfix.rules.variables.untracked_variable_attribute import UntrackedVariableAttribute
from tfgradfix.rules.variables.unused_weight import UnusedWeight
from tfgradfix.rules.variables.variable_in_call import VariableInCall
from tfgradfix.rules.variables.variable_in_helper import VariableInHelper
from tfgradfix.rules.variables.variable_rebound import VariableRebound

__all__ = [
    "AssignOnForwardPath", "DerivedWeightInBuild",
    "InitializerAsWeight", "IntegerVariable", "LayerInCall", "UntrackedVariableAttribute", "UnusedWeight",
    "VariableInCall", "VariableInHelper", "VariableRebound",
]
