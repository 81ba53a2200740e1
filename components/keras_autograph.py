"""Keeps AutoGraph out of tf-keras's own code, as TensorFlow does for keras.

AutoGraph rewrites every Python function a `tf.function` calls into graph
code, by parsing its source, unless the function's module is on TensorFlow's
do-not-convert list. That list names `keras` (Keras 2 is written to trace
without conversion) but not `tf_keras`, the name the same Keras 2 code has
had since TF 2.16, which both stacks train with (TF_USE_LEGACY_KERAS=1). So
the first `fit` of every process parsed and rewrote all of Keras's training
code: measured on this pipeline's 15,000-row model, the first training step
took 11.4 s, of which AutoGraph's AST passes were almost all; with tf_keras
on the list it takes 0.5 s, and the trained model is identical (the same
weights; tests/components/test_keras_autograph.py). The Tuner and the Trainer
each paid it once per process.

The rule does what TensorFlow's rule for `keras` does: a function passed to
`tf.function` directly (Keras's train function, with its `tf.range` loop)
is still converted, because AutoGraph always converts what it was asked to;
only what that function calls inside tf_keras runs as written. Our own code
(the preprocessing_fn, the serving signatures) is converted as before.
"""

import importlib
import logging

# TensorFlow's name for the rule list; private API, read at each conversion.
_RULES_MODULE = 'tensorflow.python.autograph.core.config'
PACKAGE = 'tf_keras'


def leave_tf_keras_unconverted() -> bool:
  """Adds tf_keras to AutoGraph's do-not-convert list (once per process).

  Returns True if the list has the rule now, False if this TensorFlow has no
  such list (then nothing changes: training is only slower to start).
  """
  try:
    rules = importlib.import_module(_RULES_MODULE)
    do_not_convert = rules.DoNotConvert
  except (ImportError, AttributeError):
    logging.getLogger(__name__).info(
        'AutoGraph has no conversion rules here; tf_keras stays converted')
    return False
  if not any(isinstance(rule, do_not_convert) and rule.matches(PACKAGE)
             for rule in rules.CONVERSION_RULES):
    rules.CONVERSION_RULES = (do_not_convert(PACKAGE),) + tuple(
        rules.CONVERSION_RULES)
  return True
