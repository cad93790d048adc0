"""Fixes: edits to the syntax tree, and the NumPy-to-TensorFlow translations."""
