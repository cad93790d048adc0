"""The rule catalogue. Codes are stable once released (docs/architecture.md "rules/: one rule a class")."""

from __future__ import annotations

from tfgradfix.rules.base import Finding, Rule
from tfgradfix.rules.blocked import NonDifferentiableOp, StopGradientOutput
from tfgradfix.rules.variables import (
    AssignOnForwardPath, DerivedWeightInBuild,
    InitializerAsWeight, IntegerVariable, LayerInCall, UntrackedVariableAttribute,
    UnusedWeight, VariableInCall, VariableInHelper, VariableRebound,
)
from tfgradfix.rules.tape import (
    ForwardOutsideTape, IntegerSource, LossOutsideTape, NonTrainableInSources, UnwatchedSource,
)
from tfgradfix.rules.numpy import (
    NumpyCallOnTensor, NumpyFunction, NumpyRoundtrip, PredictInTape, PythonScalar, TensorToNumpy,
)
from tfgradfix.rules.unused_noqa import UnusedNoqa

ALL_RULES: tuple[type[Rule], ...] = (
    NumpyCallOnTensor, TensorToNumpy, NumpyRoundtrip, PythonScalar, NumpyFunction, PredictInTape,
    VariableInHelper, VariableInCall, UntrackedVariableAttribute, VariableRebound, DerivedWeightInBuild, IntegerVariable, UnusedWeight,
    AssignOnForwardPath, LayerInCall, InitializerAsWeight,
    StopGradientOutput, NonDifferentiableOp,
    LossOutsideTape, ForwardOutsideTape, UnwatchedSource, IntegerSource, NonTrainableInSources,
    UnusedNoqa,
)
RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}


__all__ = ["ALL_RULES", "RULES_BY_CODE", "Finding", "Rule"]
