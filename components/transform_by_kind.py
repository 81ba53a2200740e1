"""Transform's `preprocessing_fn` for any data set: one graph per kind of
column, as the dataset spec names them (components/dataset_spec.py).

The spec reaches this module code the TFX way, in Transform's
`custom_config` (`{'dataset': spec.to_config()}`), which TFX fingerprints:
a changed spec re-runs Transform. By kind:

- categorical: the token "<key>=<value>" in one vocabulary shared by all
  categorical columns (one Beam pass instead of one per column); a missing
  value is the explicit MISSING token; integer and float columns (CSV codes
  such as an hour) are read as their text; `prefix: N` keeps the first N
  digits (CFPB's masked ZIP codes);
- numeric: z-scored (mean and variance of the values present), a missing
  value 0 with a missing-value indicator beside it, and its quantile bucket
  as one more categorical token "<key>=q<i>", so the wide part of the model
  learns a step function and the deep part the scaled value;
- text: a bag of word n-grams through a vocabulary of the most frequent, or
  with `features.TEXT_VOCAB_BY_LABEL` of those most informative about the
  label (components/transform.py's `text_ngram_ids`).

For the CFPB spec the outputs are exactly those of `components.transform`
(tested), so the pipeline can move to this function without retraining
differently.
"""

from typing import List

import tensorflow as tf
import tensorflow_transform as tft

from components import dataset_spec
from components import features
from components import transform as cfpb_transform

NUMERIC_XF = 'numeric_xf'
NUMERIC_MISSING_XF = 'numeric_missing_xf'
QUANTILE_EPSILON = 0.001  # approximate quantiles: error in rank, as a share


def _as_text(value):
  """A categorical column as strings, whatever type CsvExampleGen gave it
  (a missing value: the empty string)."""
  if value.dtype == tf.string:
    return cfpb_transform.dense(value, '')
  if isinstance(value, tf.RaggedTensor):
    value = value.to_sparse()
  if isinstance(value, tf.SparseTensor):
    text = tf.SparseTensor(value.indices, tf.strings.as_string(value.values),
                           value.dense_shape)
    return cfpb_transform.dense(text, '')
  return tf.reshape(tf.strings.as_string(value), [-1])


def _as_number(value):
  """A numeric column as float32 [N], NaN where the value is missing."""
  if isinstance(value, tf.RaggedTensor):
    value = value.to_sparse()
  if isinstance(value, tf.SparseTensor):
    value = tf.SparseTensor(value.indices, tf.cast(value.values, tf.float32),
                            value.dense_shape)
    return cfpb_transform.dense(value, float('nan'))
  return tf.reshape(tf.cast(value, tf.float32), [-1])


def numeric_outputs(x, buckets: int):
  """(z-score with missing as 0, missing indicator, bucket token value)."""
  present = tf.logical_not(tf.math.is_nan(x))
  values = tf.boolean_mask(x, present)
  mean = tft.mean(values)
  std = tf.sqrt(tft.var(values))
  scaled = tf.where(present, (x - mean) / tf.maximum(std, 1e-12), 0.0)
  boundaries = tft.quantiles(values, num_buckets=buckets,
                             epsilon=QUANTILE_EPSILON)
  bucket = tft.apply_buckets(tf.where(present, x, 0.0), boundaries)
  token = tf.where(present,
                   tf.strings.join(['q', tf.strings.as_string(bucket)]),
                   features.MISSING_TOKEN)
  return scaled, 1.0 - tf.cast(present, tf.float32), token


def preprocessing_fn(inputs, custom_config):
  """Raw features by the spec -> the model's inputs.

  Returns:
    `features.CATEGORICAL_XF` (one vocabulary id per categorical column and
    per numeric column's bucket, in the spec's order), `<key>_xf` n-gram ids
    per text column, `numeric_xf` and `numeric_missing_xf` ([N, numeric
    columns]) when there are numeric columns, and the label's class index.
  """
  spec = dataset_spec.from_custom_config(custom_config)
  tokens: List[tf.Tensor] = []
  for feature in spec.of_kind('categorical'):
    text = _as_text(inputs[feature.key])
    value = (cfpb_transform.zip_prefix(text, feature.prefix)
             if feature.prefix else cfpb_transform.fill_missing(text))
    tokens.append(tf.strings.join([feature.key + '=', value]))
  outputs = {}
  numeric = spec.of_kind('numeric')
  if numeric:
    scaled, missing = [], []
    for feature in numeric:
      z, absent, bucket = numeric_outputs(_as_number(inputs[feature.key]),
                                          feature.buckets)
      scaled.append(z)
      missing.append(absent)
      tokens.append(tf.strings.join([feature.key + '=', bucket]))
    outputs[NUMERIC_XF] = tf.stack(scaled, axis=1)
    outputs[NUMERIC_MISSING_XF] = tf.stack(missing, axis=1)
  outputs[features.CATEGORICAL_XF] = tft.compute_and_apply_vocabulary(
      tf.stack(tokens, axis=1),
      top_k=features.CATEGORICAL_VOCAB_SIZE,
      num_oov_buckets=features.OOV_BUCKETS,
      vocab_filename=features.CATEGORICAL_VOCAB)
  label = (cfpb_transform.label_index(inputs[spec.label.key])
           if spec.label.key in inputs else None)
  for feature in spec.of_kind('text'):
    outputs[features.transformed_name(feature.key)] = (
        cfpb_transform.text_ngram_ids(
            inputs[feature.key], features.vocabulary_name(feature.key),
            labels=label))
  if label is not None:
    outputs[spec.label.key] = label
  return outputs
