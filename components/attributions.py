"""Attributions per raw feature, exact for the wide model, in the SavedModel.

The wide model's logit is a sum over the raw features: each categorical
column's weight (its vocabulary id in the shared multi-hot), each numeric
column's bucket weight plus its z-score and missing-indicator weights, each
text column's weights of the n-grams it holds, plus the bias. A feature's
contribution is its part of that sum; its attribution is the contribution
minus its mean over the eval split, so a row's attributions add up to its
logit minus the eval split's mean logit (the `baseline`): exact, and as
cheap as one prediction. Multi-class: the same per class (softmax logits).

Two things keep the sum exact where the multi-hot merges values: a
vocabulary id that appears in two columns of a row (two unseen values
hashed to one OOV bucket) counts once in the multi-hot, so its weight is
split between the columns that hold it; a repeated n-gram counts once, as
the multi-hot does.

A model with the deep branch (hidden_units > 0) is not additive: the
deep part's logit is left unattributed here and reported per row as the
`approximation_error` (its distance from its eval mean), so the
attributions still add up to the logit minus the baseline up to that
error. What a deep branch would use to close it: integrated gradients over
the model's encoded inputs (the multi-hot, the n-gram bags, the numbers)
from the all-missing row, summed per raw feature, whose completeness gap
is the error to report; or sampled Shapley over the raw columns through
`predict_raw` (model-agnostic, about features x samples predictions a
row).

`export_function` makes the `explain` signature (components/signatures.py
exports it beside `predict_raw`, with the same inputs): the server, the
notebooks and the pipeline's analysis (components/model_analysis.py) call
the one computation the model carries.
"""

import json
import os
from typing import Any, Dict, List, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from components import features
from components import layer_names
from components import transform_by_kind

SIGNATURE = 'explain'
ATTRIBUTIONS = 'attributions'        # [N, F] binary, [N, F, C] multi-class
BASELINE = 'baseline'                # [N] / [N, C]: the eval mean logit
LOGITS = 'logits'                    # [N] / [N, C]
APPROXIMATION_ERROR = 'approximation_error'  # [N]: 0 for the wide model
# What the signature's feature axis means, beside the model (TF Serving
# ignores assets.extra).
DESCRIPTION_FILE = os.path.join('assets.extra', 'explain.json')
METHOD_EXACT = 'exact: wide model, contribution to the logit minus its eval mean'
METHOD_WIDE_PART = ('wide part exact; the deep branch unattributed '
                    '(approximation_error)')


class Part(NamedTuple):
  """Where one raw feature enters the wide model."""
  key: str
  kind: str                     # categorical | numeric | text
  column: int = -1              # its column of categorical_xf (or bucket's)
  numeric: int = -1             # numeric: its column of numeric_xf
  text_input: str = ''          # text: the model input of its n-gram ids
  text_layer: str = ''          # text: the Dense layer over its bag


def parts(spec=None) -> List[Part]:
  """The raw features in signature order (signatures.raw_keys) and where
  each enters the model (spec None: the CFPB model of components/model.py,
  whose categorical_xf columns are features.CATEGORICAL_INPUTS)."""
  if spec is None:
    found = [Part(key, 'categorical', column=i)
             for i, key in enumerate(features.CATEGORICAL_INPUTS)]
    key = features.TEXT_FEATURE
    return found + [Part(key, 'text', text_input=features.transformed_name(
        key), text_layer=layer_names.wide_text(key))]
  categorical = [f.key for f in spec.of_kind('categorical')]
  numeric = [f.key for f in spec.of_kind('numeric')]
  found = []
  for feature in spec.features:
    if feature.kind == 'categorical':
      found.append(Part(feature.key, 'categorical',
                        column=categorical.index(feature.key)))
    elif feature.kind == 'numeric':
      index = numeric.index(feature.key)
      found.append(Part(feature.key, 'numeric',
                        column=len(categorical) + index, numeric=index))
    else:
      found.append(Part(
          feature.key, 'text',
          text_input=features.transformed_name(feature.key),
          text_layer=layer_names.wide_text(feature.key)))
  return found


def _kernel(model, name: str):
  return model.get_layer(name).kernel


def has_deep_branch(model) -> bool:
  return any(layer.name == layer_names.DEEP for layer in model.layers)


def _bag_contribution(ngrams, kernel, rows) -> tf.Tensor:
  """[N, U]: the sum of the weights of the distinct n-gram ids of each row
  (a repeated n-gram counts once, as in the model's multi-hot)."""
  if isinstance(ngrams, tf.RaggedTensor):
    ngrams = ngrams.to_sparse()
  tokens = tf.cast(tf.shape(kernel)[0], tf.int64)
  keys, _ = tf.unique(ngrams.indices[:, 0] * tokens
                      + tf.cast(ngrams.values, tf.int64))
  return tf.math.unsorted_segment_sum(
      tf.gather(kernel, keys % tokens), keys // tokens, num_segments=rows)


def contributions(model, inputs: Dict[str, Any], spec=None) -> tf.Tensor:
  """[N, F, U]: each raw feature's part of the wide logit (U = 1 for a
  sigmoid, the classes for a softmax), without the bias.

  Args:
    model: the Keras model (components/model.py or model_by_kind.py).
    inputs: its transformed inputs (what Transform's layer gives).
    spec: the dataset spec (None: the CFPB model).
  """
  ids = tf.cast(inputs[features.CATEGORICAL_XF], tf.int64)
  categorical = tf.gather(_kernel(model, layer_names.WIDE_CATEGORICAL), ids)
  # An id held by k columns of a row counts once in the multi-hot: 1/k each.
  holders = tf.reduce_sum(tf.cast(tf.equal(
      ids[:, :, tf.newaxis], ids[:, tf.newaxis, :]), tf.float32), axis=-1)
  categorical = categorical / holders[:, :, tf.newaxis]
  found = []
  for part in parts(spec):
    if part.kind == 'text':
      found.append(_bag_contribution(
          inputs[part.text_input], _kernel(model, part.text_layer),
          tf.shape(ids)[0]))
      continue
    value = categorical[:, part.column, :]
    if part.kind == 'numeric':
      weights = _kernel(model, layer_names.WIDE_NUMERIC)
      count = int(weights.shape[0]) // 2  # z-scores, then indicators
      value += (inputs[transform_by_kind.NUMERIC_XF][:, part.numeric:
                                                     part.numeric + 1]
                * weights[part.numeric]
                + inputs[transform_by_kind.NUMERIC_MISSING_XF][
                    :, part.numeric:part.numeric + 1]
                * weights[count + part.numeric])
    found.append(value)
  return tf.stack(found, axis=1)


def logits_model(model, output_key: str):
  """The model up to its sigmoid or softmax: the logits."""
  return tf.keras.Model(model.inputs, model.get_layer(output_key).input)


def decompose(model, logits_of, inputs, spec=None):
  """(contributions [N, F, U], unattributed [N, U], logits [N, U]):
  unattributed is the logit less the bias and the contributions, the deep
  branch's part (0 up to rounding for the wide model)."""
  parts_ = contributions(model, inputs, spec)
  logits = tf.reshape(logits_of(inputs), [tf.shape(parts_)[0], -1])
  bias = model.get_layer(layer_names.WIDE_CATEGORICAL).bias
  rest = logits - bias - tf.reduce_sum(parts_, axis=1)
  return parts_, rest, logits


def reference_means(model, batches, output_key: str, spec=None):
  """(mean contribution [F, U], mean unattributed [U], rows) over batches
  of transformed inputs (the eval split), or zeros over none."""
  logits_of = logits_model(model, output_key)
  total_parts = total_rest = None
  rows = 0
  for inputs in batches:
    if isinstance(inputs, tuple):  # (features, label)
      inputs = inputs[0]
    parts_, rest, _ = decompose(model, logits_of, inputs, spec)
    sums = (tf.reduce_sum(parts_, axis=0).numpy().astype(np.float64),
            tf.reduce_sum(rest, axis=0).numpy().astype(np.float64))
    total_parts = sums[0] if total_parts is None else total_parts + sums[0]
    total_rest = sums[1] if total_rest is None else total_rest + sums[1]
    rows += int(parts_.shape[0])
  units = int(model.get_layer(layer_names.WIDE_CATEGORICAL).bias.shape[0])
  if not rows:
    return (np.zeros((len(parts(spec)), units)), np.zeros(units), 0)
  return total_parts / rows, total_rest / rows, rows


def export_function(model, output_key: str, spec=None, reference=None):
  """f(transformed inputs) -> the explain signature's outputs.

  Args:
    model: the trained Keras model.
    output_key: its output (probabilities).
    spec: the dataset spec (None: the CFPB model).
    reference: reference_means' (means, unattributed mean, rows) over the
      eval split; None: no reference, attributions are the contributions
      themselves (measured from the bias).
  """
  logits_of = logits_model(model, output_key)
  means, rest_mean, _ = reference or (
      np.zeros((len(parts(spec)), 1)), np.zeros(1), 0)
  means = tf.constant(np.asarray(means, np.float32))
  rest_mean = tf.constant(np.asarray(rest_mean, np.float32))
  squeeze = int(model.get_layer(layer_names.WIDE_CATEGORICAL).bias.shape[0]) == 1

  def explain(inputs):
    parts_, rest, logits = decompose(model, logits_of, inputs, spec)
    attributions = parts_ - means
    baseline = tf.broadcast_to(
        model.get_layer(layer_names.WIDE_CATEGORICAL).bias
        + tf.reduce_sum(means, axis=0) + rest_mean, tf.shape(logits))
    error = tf.reduce_max(tf.abs(rest - rest_mean), axis=-1)
    if squeeze:
      attributions, baseline, logits = (attributions[..., 0],
                                        baseline[..., 0], logits[..., 0])
    return {ATTRIBUTIONS: attributions, BASELINE: baseline, LOGITS: logits,
            APPROXIMATION_ERROR: error}
  return explain


def description(model, spec=None, reference=None) -> Dict[str, Any]:
  """What the explain signature's axes mean (written beside the model)."""
  return {
      'signature': SIGNATURE,
      'features': [p.key for p in parts(spec)],
      'columns': feature_columns(spec),
      'kinds': [p.kind for p in parts(spec)],
      'classes': (list(spec.label.classes) if spec is not None
                  and spec.multiclass else None),
      'method': METHOD_WIDE_PART if has_deep_branch(model) else METHOD_EXACT,
      'reference_rows': int(reference[2]) if reference else 0,
      'outputs': {
          ATTRIBUTIONS: 'per row and raw feature (and class): the '
                        'contribution to the logit minus its mean over the '
                        'reference rows',
          BASELINE: 'the mean logit over the reference rows: attributions '
                    'sum to logits - baseline (up to approximation_error)',
          LOGITS: 'the logit (log-odds; per class: softmax logits)',
          APPROXIMATION_ERROR: 'the part of the logit left unattributed '
                               '(the deep branch), from its mean; 0 for '
                               'the wide model'}}


def write_description(export_dir: str, found: Dict[str, Any]) -> str:
  path = os.path.join(export_dir, DESCRIPTION_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(found, f, indent=1)
  return path


def feature_keys(spec=None) -> Sequence[str]:
  return [p.key for p in parts(spec)]


def feature_columns(spec=None) -> List[str]:
  """The CSV's column name of each raw feature, in signature order (the
  CFPB model: the export's headers, "Product", "ZIP code", ...): what a
  person reading an explanation knows the feature by."""
  if spec is None:
    return [features.FEATURE_TO_EXPORT[key] for key in feature_keys()]
  by_key = {f.key: f.column for f in spec.features}
  return [by_key[key] for key in feature_keys(spec)]
