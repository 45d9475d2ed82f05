"""Training, export and evaluation of the cry model; needs the ``train`` extra (TensorFlow).

TensorFlow is imported inside the functions that need it, so evaluation and the night
benchmark run with the runtime dependencies alone.
"""
