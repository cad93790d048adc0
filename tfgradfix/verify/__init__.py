"""`--verify`: run each changed layer before and after its fixes, in a child process.

The parent (`runner`) finds what a fix changed (`units`) and sends it to a child
Python process with a time limit; the child (`child`) imports TensorFlow once,
loads the original and the fixed module side by side, builds each changed layer,
and compares gradients, outputs, `tf.function` and a finite difference. User
code runs only under `--verify`, and only in that child.
"""
