"""TGF1 — computation leaves TensorFlow on the gradient path. One module per rule; what they
share (which calls are NumPy, when one is on the gradient path) is in `base`."""

from tfgradfix.rules.numpy.numpy_call_on_tensor import NumpyCallOnTensor
from tfgradfix.rules.numpy.numpy_function import NumpyFunction
from tfgradfix.rules.numpy.numpy_roundtrip import NumpyRoundtrip
from tfgradfix.rules.numpy.predict_in_tape import PredictInTape
from tfgradfix.rules.numpy.python_scalar import PythonScalar
from tfgradfix.rules.numpy.tensor_to_numpy import TensorToNumpy

__all__ = ["NumpyCallOnTensor", "NumpyFunction", "NumpyRoundtrip", "PredictInTape", "PythonScalar", "TensorToNumpy"]
