"""The rule catalogue. Codes are stable once released (DESIGN §2)."""

from __future__ import annotations

from typing import Iterable

from tfgradfix.rules.base import Finding, Rule
from tfgradfix.rules.blocked import NonDifferentiableOp, StopGradientOutput
from tfgradfix.rules.variables import (
    AssignOnForwardPath, DerivedWeightInBuild, IntegerVariable, LayerInCall, UntrackedVariableAttribute,
    UnusedWeight, VariableInCall, VariableInHelper, VariableRebound,
)
from tfgradfix.rules.tape import (
    ForwardOutsideTape, IntegerSource, LossOutsideTape, NonTrainableInSources, UnwatchedSource,
)
from tfgradfix.rules.numpy import (
    NumpyCallOnTensor, NumpyFunction, NumpyRoundtrip, PredictInTape, PythonScalar, TensorToNumpy,
)

ALL_RULES: tuple[type[Rule], ...] = (
    NumpyCallOnTensor, TensorToNumpy, NumpyRoundtrip, PythonScalar, NumpyFunction, PredictInTape,
    VariableInHelper, VariableInCall, UntrackedVariableAttribute, VariableRebound, DerivedWeightInBuild, IntegerVariable, UnusedWeight,
    AssignOnForwardPath, LayerInCall,
    StopGradientOutput, NonDifferentiableOp,
    LossOutsideTape, ForwardOutsideTape, UnwatchedSource, IntegerSource, NonTrainableInSources,
)
RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}


def select_rules(select: Iterable[str] = ("ALL",), ignore: Iterable[str] = ()) -> list[type[Rule]]:
    """Rules whose code matches a selected prefix and no ignored one (`TGF1`,
    `TGF203`, `ALL`), as Ruff does. Unknown codes raise ValueError."""
    select, ignore = list(select), list(ignore)
    for prefix in select + ignore:
        if prefix != "ALL" and not any(code.startswith(prefix) for code in RULES_BY_CODE):
            raise ValueError(f"unknown rule code or prefix: {prefix}")

    def matches(code: str, prefixes: list[str]) -> bool:
        return any(p == "ALL" or code.startswith(p) for p in prefixes)

    return [r for r in ALL_RULES if matches(r.code, select) and not matches(r.code, ignore)]


__all__ = ["ALL_RULES", "RULES_BY_CODE", "Finding", "Rule", "select_rules"]
