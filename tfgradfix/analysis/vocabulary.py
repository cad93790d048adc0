"""The TensorFlow and Keras names the analysis recognises, each concept spelled once.

Every name is a qualified name as `imports.ImportMap.resolve` (and the project index's
`ast` reading) returns it: `tf.Variable` under `import tensorflow as tf` is
"tensorflow.Variable", and the names of SAME_AS (`tf.compat.v1.Variable`...) are already
folded into their canonical spelling (`imports.canonical`). A concept belongs here when more than one
module asks about it; a name list that one rule alone reads stays with the rule. When two
concepts look alike but differ (a TensorFlow variable against any variable), both are here,
each with why it holds what it holds: merging them would change what is reported.

This module imports nothing, so every layer may read it.
"""

# Other public names of the same constructor: TF 1.x eager's `tfe.Variable`
# (`tensorflow.contrib.eager`) and the `compat` namespaces' `tf.compat.v1.Variable` make the
# variable `tf.Variable` makes, for gradients as for Keras's tracking; every question asked
# of `tensorflow.Variable` holds for them.
SAME_AS = {
    "tensorflow.compat.v1.Variable": "tensorflow.Variable",
    "tensorflow.compat.v2.Variable": "tensorflow.Variable",
    "tensorflow.contrib.eager.Variable": "tensorflow.Variable",
    "tensorflow.contrib.eager.python.tfe.Variable": "tensorflow.Variable",
    "tensorflow.python.ops.variables.Variable": "tensorflow.Variable",
}

# Packages whose `layers.*`, `models.*`, `Layer`, `Model` and `Sequential` are Keras.
KERAS_PACKAGES = ("tensorflow.keras", "keras", "tf_keras", "tensorflow.python.keras")

# The lists a Keras model or a `tf.Module` keeps of its variables (`model.trainable_variables`).
MODEL_VARIABLE_LISTS = frozenset({"trainable_variables", "trainable_weights", "variables", "weights"})

# Keras 2, kept alive as `tf_keras` (or TF <= 2.15's internal copy): it tracks tf.Variable
# attributes, where Keras 3 tracks only its own variables.
LEGACY_KERAS_PACKAGES = ("tf_keras", "tensorflow.python.keras")

# Calls that make a variable a tape watches and an optimizer trains, of either library
# (`add_weight` is a method, recognised by its attribute name where these are asked).
# `tf.keras.backend.variable` (Keras 2's API, still in tf.keras) makes a `tf.Variable`.
VARIABLE_CONSTRUCTORS = ("tensorflow.Variable", "keras.Variable", "tensorflow.keras.backend.variable",
                         "keras.backend.variable")

# TensorFlow's own variable alone: a Keras 3 layer does not track it as a weight (Keras 2
# does: LEGACY_KERAS_PACKAGES), and its `assign` returns the variable rather than the value.
# The TGF2 rules about untracked or rebound variables ask for this one, not for
# VARIABLE_CONSTRUCTORS: a `keras.Variable` attribute is tracked.
TF_VARIABLE = ("tensorflow.Variable",)

# `with tf.GradientTape() as tape:` opens a tape block.
TAPE_CONSTRUCTORS = ("tensorflow.GradientTape", "tensorflow.autodiff.GradientTape",
                     "tensorflow.python.eager.backprop.GradientTape")  # Keras 2's own train_step spells it

# A tape's methods that differentiate what it recorded: `tape.gradient(target, sources)`.
GRADIENT_METHODS = ("gradient", "jacobian", "batch_jacobian")

# Decorators under which the function defines its own gradient or is not ours to judge.
OWN_GRADIENT_DECORATORS = ("tensorflow.custom_gradient", "tensorflow.RegisterGradient")
# Decorators that trace a function into a graph: its arguments become the trace's inputs.
TRACING_DECORATORS = ("tensorflow.function", "tensorflow.compat.v2.function")
# A TensorFlow decorator handed the gradient function (TF 1.x's `@function.Defun(grad_func=...)`).
OWN_GRADIENT_KEYWORDS = ("grad_func", "python_grad_func")

# Wrappers whose function runs as Python on NumPy arrays.
NUMPY_WRAPPERS = ("tensorflow.numpy_function", "tensorflow.py_function", "tensorflow.py_func",
                  "tensorflow.compat.v1.py_func", "tensorflow.compat.v1.numpy_function")

# TF maps that run a function on slices of a tensor.
TENSOR_MAPS = ("tensorflow.map_fn", "tensorflow.vectorized_map")

# `tf.Module` bases: instances hold variables without being Keras layers.
TF_MODULES = ("tensorflow.Module", "tensorflow.experimental.dtensor.Module")

# Blocks under which variables are created once, outside any function being traced.
INIT_SCOPES = ("tensorflow.init_scope", "tensorflow.compat.v1.init_scope")

# Libraries that compute on host arrays and have no TensorFlow gradient: a tensor handed to one
# must become NumPy first (`scipy.sparse.linalg.eigsh(m.numpy(), k)`), whatever else the code does.
FOREIGN_ARRAY_LIBRARIES = frozenset({
    "scipy", "sklearn", "cv2", "skimage", "PIL", "pandas", "networkx", "numba", "sympy", "statsmodels",
    "matplotlib", "seaborn", "open3d", "trimesh", "librosa", "soundfile", "imageio",
})
# Those of them whose functions return NumPy arrays (others return their own objects: a PIL image,
# a figure, a graph, a data frame).
NUMPY_RESULT_LIBRARIES = frozenset({"scipy", "sklearn", "cv2", "skimage", "statsmodels", "librosa", "soundfile",
                                    "imageio"})


# Every layer class Keras 3's `keras.layers` defines, and those only Keras 2's `tf.keras.layers` had (its
# `experimental` namespaces included): a name outside it (a misspelt `RELU`) is no layer the analysis knows.
KERAS_LAYER_NAMES = frozenset({
    "AbstractRNNCell", "Activation", "ActivityRegularization", "AdaptiveAveragePooling1D",
    "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D",
    "AdaptiveMaxPooling3D", "Add", "AdditiveAttention", "AlphaDropout", "Attention", "AugMix", "AutoContrast",
    "Average", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "BatchNormalization", "Bidirectional", "CategoryEncoding", "CenterCrop", "Concatenate",
    "ContrastLimitedAdaptiveHistogramEqualization", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
    "Conv3D", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Convolution1D",
    "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose",
    "Cropping1D", "Cropping2D", "Cropping3D", "CuDNNGRU", "CuDNNLSTM", "CutMix", "Dense", "DenseFeatures",
    "DepthwiseConv1D", "DepthwiseConv2D", "Discretization", "Dot", "Dropout", "ELU", "EinsumDense", "Embedding",
    "Equalization", "Flatten", "FlaxLayer", "GRU", "GRUCell", "GaussianDropout", "GaussianNoise",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GroupNormalization", "GroupQueryAttention",
    "HashedCrossing", "Hashing", "Identity", "Input", "InputLayer", "InputSpec", "IntegerLookup", "JaxLayer",
    "LSTM", "LSTMCell", "Lambda", "Layer", "LayerNormalization", "LeakyReLU", "LocallyConnected1D",
    "LocallyConnected2D", "Masking", "MaxNumBoundingBoxes", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D",
    "MaxPooling2D", "MaxPooling3D", "Maximum", "MelSpectrogram", "Minimum", "MixUp", "MultiHeadAttention",
    "Multiply", "Normalization", "PReLU", "PeepholeLSTMCell", "Permute", "Pipeline", "PreprocessingLayer",
    "RMSNormalization", "RNN", "RandAugment", "RandomBrightness", "RandomColorDegeneration", "RandomColorJitter",
    "RandomContrast", "RandomCrop", "RandomElasticTransform", "RandomErasing", "RandomFlip",
    "RandomFourierFeatures", "RandomGaussianBlur", "RandomGrayscale", "RandomHeight", "RandomHue", "RandomInvert",
    "RandomPerspective", "RandomPosterization", "RandomRotation", "RandomSaturation", "RandomSharpness",
    "RandomShear", "RandomTranslation", "RandomWidth", "RandomZoom", "ReLU", "RepeatVector", "Rescaling", "Reshape",
    "Resizing", "ReversibleEmbedding", "STFTSpectrogram", "SeparableConv1D", "SeparableConv2D",
    "SeparableConvolution1D", "SeparableConvolution2D", "SequenceFeatures", "SimpleRNN", "SimpleRNNCell", "Softmax",
    "Solarization", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "SpectralNormalization",
    "StackedRNNCells", "StringLookup", "Subtract", "SyncBatchNormalization", "TFSMLayer", "TextVectorization",
    "ThresholdedReLU", "TimeDistributed", "TorchModuleWrapper", "UnitNormalization", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "Wrapper", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"
})
