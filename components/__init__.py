"""Module code of the pipeline: feature names, preprocessing, model, tuner.

TFX 1.16 needs Keras 2 (tf-keras): set before TensorFlow is first imported.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
