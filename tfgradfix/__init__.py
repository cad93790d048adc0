"""tfgradfix: find and fix TensorFlow/Keras code whose gradients come back None."""

__version__ = "0.1.0"
