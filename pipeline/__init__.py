"""The TFX pipeline definition and its command-line runner.

TFX 1.16 needs Keras 2 (tf-keras): set before TensorFlow is first imported.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # C++ info logs drown the summary
