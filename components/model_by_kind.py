"""The wide & deep model for any data set, shaped by its dataset spec.

The inputs are what `components.transform_by_kind` writes: the shared
categorical vocabulary (categorical values and numeric quantile buckets),
one n-gram bag per text column, and the numeric columns' z-scores with
their missing-value indicators. The wide part is a linear model over the
categorical multi-hot and the n-gram bags (the buckets give it a step
function of each number); the optional deep part (hidden_units > 0) adds a
dense layer over the multi-hot, the n-gram embeddings and the numbers
themselves. The head follows the task: one sigmoid unit for a binary label
(its bias at the log-odds of the positive rate), a softmax over the spec's
classes for a multi-class one (biases at the log of each class's rate).

For the CFPB spec the layers, their names and shapes are those of
`components.model.get_model` (tested), so a model trained either way
exports the same signatures.
"""

from typing import Any, Dict, Sequence

import numpy as np
import tensorflow as tf

from components import dataset_spec
from components import features
from components import keras_autograph
from components import layer_names
from components import model as cfpb_model
from components import transform_by_kind


class SparseMacroAUC(tf.keras.metrics.AUC):
  """The macro one-vs-rest AUC of softmax outputs against class indices
  (Keras' multi-label AUC wants one-hot labels): the judge's metric, and
  what the Tuner ranks candidates on (`val_auc`) for either task."""

  def __init__(self, num_classes: int, name: str = 'auc', **kwargs):
    kwargs.pop('multi_label', None)
    kwargs.pop('num_labels', None)
    super().__init__(name=name, multi_label=True, num_labels=num_classes,
                     **kwargs)
    self.num_classes = num_classes

  def update_state(self, y_true, y_pred, sample_weight=None):
    labels = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]),
                        self.num_classes)
    return super().update_state(labels, y_pred, sample_weight)

  def get_config(self):
    return dict(super().get_config(), num_classes=self.num_classes)


def initial_bias(task: str, class_rates: Sequence[float]) -> np.ndarray:
  """Output biases that start the model at the label's base rates."""
  rates = np.clip(np.asarray(class_rates, dtype=float), 0.01, 0.99)
  if task == dataset_spec.BINARY:
    positive = rates[-1]
    return np.array([np.log(positive / (1.0 - positive))])
  return np.log(rates / rates.sum())


def build(spec: dataset_spec.DatasetSpec, hparams: Dict[str, Any],
          class_rates: Sequence[float], train_rows: int = 0
          ) -> tf.keras.Model:
  """The compiled model for spec's columns and task.

  Args:
    spec: the data set's spec.
    hparams: learning_rate, l1, hidden_units, embedding_dim.
    class_rates: each class's share of the training rows, in the spec's
      class order (binary: [negative, positive]).
    train_rows: as components.model.get_model's (the categorical prior).
  """
  keras_autograph.leave_tf_keras_unconverted()
  binary = spec.label.task == dataset_spec.BINARY
  units = 1 if binary else len(spec.label.classes)
  numeric = spec.of_kind('numeric')
  width = len(spec.of_kind('categorical')) + len(numeric)
  inputs = {features.CATEGORICAL_XF: tf.keras.Input(
      shape=(width,), name=features.CATEGORICAL_XF, dtype=tf.int64)}
  categorical = tf.keras.layers.CategoryEncoding(
      num_tokens=features.CATEGORICAL_VOCAB_SIZE + features.OOV_BUCKETS,
      output_mode='multi_hot')(inputs[features.CATEGORICAL_XF])
  bags = []
  for feature in spec.of_kind('text'):
    name = features.transformed_name(feature.key)
    inputs[name] = tf.keras.Input(shape=(None,), name=name, dtype=tf.int64,
                                  sparse=True)
    bags.append((feature.key, tf.keras.layers.CategoryEncoding(
        num_tokens=features.TEXT_VOCAB_SIZE + features.TEXT_OOV_BUCKETS,
        output_mode='multi_hot', sparse=True)(inputs[name])))
  l1 = float(hparams.get('l1', 0.0))
  bias = initial_bias(spec.label.task, class_rates)
  logits = [tf.keras.layers.Dense(
      units, name=cfpb_model.BIAS_LAYER,
      kernel_regularizer=(tf.keras.regularizers.L2(
          1.0 / (2.0 * cfpb_model.CATEGORY_PRIOR_SD**2 * train_rows))
                          if train_rows else None),
      bias_initializer=tf.keras.initializers.Constant(bias))(categorical)]
  for key, bag in bags:
    logits.append(tf.keras.layers.Dense(
        units, name=layer_names.wide_text(key), use_bias=False,
        kernel_regularizer=tf.keras.regularizers.L1(l1))(bag))
  deep_inputs = [categorical]
  if numeric:
    for name in (transform_by_kind.NUMERIC_XF,
                 transform_by_kind.NUMERIC_MISSING_XF):
      inputs[name] = tf.keras.Input(shape=(len(numeric),), name=name,
                                    dtype=tf.float32)
    numbers = tf.keras.layers.concatenate(
        [inputs[transform_by_kind.NUMERIC_XF],
         inputs[transform_by_kind.NUMERIC_MISSING_XF]])
    # Without a deep part the numbers still enter linearly, beside the
    # step function their buckets give the wide part.
    logits.append(tf.keras.layers.Dense(units, use_bias=False,
                                        name=layer_names.WIDE_NUMERIC)(numbers))
    deep_inputs.append(numbers)
  hidden_units = int(hparams.get('hidden_units', 0))
  if hidden_units > 0:
    for key, bag in bags:
      deep_inputs.append(tf.keras.layers.Dense(
          int(hparams['embedding_dim']), use_bias=False,
          name=('text_embedding_bag' if key == features.TEXT_FEATURE
                else f'text_embedding_bag_{key}'))(bag))
    deep = tf.keras.layers.Dropout(cfpb_model.DEEP_DROPOUT)(
        tf.keras.layers.concatenate(deep_inputs) if len(deep_inputs) > 1
        else deep_inputs[0])
    deep = tf.keras.layers.Dropout(cfpb_model.DEEP_DROPOUT)(
        tf.keras.layers.Dense(
            hidden_units, activation='relu',
            kernel_regularizer=tf.keras.regularizers.L2(
                cfpb_model.DEEP_L2))(deep))
    logits.append(tf.keras.layers.Dense(units, use_bias=False,
                                        name=layer_names.DEEP)(deep))
  summed = (tf.keras.layers.Add()(logits) if len(logits) > 1
            else logits[0])
  output = tf.keras.layers.Activation(
      'sigmoid' if binary else 'softmax', name=spec.output_key)(summed)
  model = tf.keras.Model(inputs=inputs, outputs=output)
  if binary:
    loss, metrics = 'binary_crossentropy', [tf.keras.metrics.AUC(name='auc')]
  else:
    loss = 'sparse_categorical_crossentropy'
    metrics = [tf.keras.metrics.SparseCategoricalAccuracy(name='accuracy'),
               SparseMacroAUC(units)]
  model.compile(
      optimizer=tf.keras.optimizers.Adam(float(hparams['learning_rate'])),
      loss=loss, metrics=metrics)
  return model
