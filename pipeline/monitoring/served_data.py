"""Logged requests turned back into the pipeline's raw features.

Both signatures the clients call are read: `predict_raw` (one typed tensor
per raw feature) and `serving_default` (serialized tf.Examples), as well as
the tf.Examples of Classify, Regress and MultiInference requests. Each row
keeps the model version that answered it, the join key (when the client
sent it) and the prediction (Predict only).

The columns are the dataset spec's feature keys and its join key. A numeric
column stays a number (`predict_raw` takes it as a float; a tf.Example holds
it in a float or int list), NaN where it is missing; a categorical or text
column is a string, '' where missing. A binary model's prediction is a
float, a multi-class model's the row's list of class probabilities.
"""

import math

import dataclasses
from typing import Any, Dict, List, Optional

from components import features

VERSION = 'model_version'
LABEL = 'version_label'   # the label a request asked for (gRPC), if any
PREDICTION = 'prediction'


@dataclasses.dataclass
class ServedRows:
  rows: List[Dict[str, Any]]
  skipped_records: int = 0   # records of another model, or without inputs


def row_keys(spec) -> List[str]:
  """The columns of a row: raw features, then the join key."""
  return [f.key for f in spec.features] + [spec.join_key]


def numeric_keys(spec) -> List[str]:
  """The columns kept as numbers."""
  return [f.key for f in spec.of_kind('numeric')]


def _value(value, numeric: bool):
  """One logged value as the row holds it: a number (NaN: missing) for a
  numeric column, else a string ('' : missing)."""
  if numeric:
    try:
      return float(value) if value not in ('', b'', None) else math.nan
    except (TypeError, ValueError):
      return math.nan
  return value.decode('utf-8', 'replace') if isinstance(
      value, bytes) else str(value)


def example_fields(example, spec) -> Dict[str, Any]:
  """Raw features (and the join key) of a tf.Example; '' where missing
  (NaN for a spec's numeric column)."""
  row = {}
  numeric = set(numeric_keys(spec))
  for key in row_keys(spec):
    feature = example.features.feature.get(key)
    kind = feature.WhichOneof('kind') if feature is not None else None
    values = getattr(feature, kind).value if kind else []
    value = values[0] if len(values) else ''
    row[key] = _value(value, key in numeric)
  return row


def _examples_of(input_proto) -> List[Any]:
  kind = input_proto.WhichOneof('kind')
  if kind == 'example_list':
    return list(input_proto.example_list.examples)
  if kind == 'example_list_with_context':
    merged = []
    context = input_proto.example_list_with_context.context
    for example in input_proto.example_list_with_context.examples:
      whole = type(example)()
      whole.CopyFrom(context)
      whole.MergeFrom(example)
      merged.append(whole)
    return merged
  return []


def _spec_columns(inputs, spec) -> List[Dict[str, Any]]:
  """predict_raw's typed tensors as rows of the spec's columns."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  numeric = set(numeric_keys(spec))
  keys = row_keys(spec)
  columns = {key: [_value(v, key in numeric) for v in
                   tf.make_ndarray(inputs[key]).ravel().tolist()]
             for key in keys if key in inputs}
  count = max(len(v) for v in columns.values())
  return [{key: (columns[key][i] if key in columns and i < len(columns[key])
                 else _value('', key in numeric)) for key in keys}
          for i in range(count)]


def _spec_predictions(tensor) -> List[Any]:
  """One prediction per row: a float, or a multi-class row's list."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  array = tf.make_ndarray(tensor)
  if array.ndim == 2 and array.shape[1] > 1:
    return [[float(p) for p in row] for row in array.tolist()]
  return [float(v) for v in array.ravel().tolist()]


def _with_predictions(rows, outputs, key: str, parse):
  """The rows, each with its prediction when the response holds one per
  row under `key` (a response of another length is not the rows')."""
  if key in outputs:
    predictions = parse(outputs[key])
    if len(predictions) == len(rows):
      for row, p in zip(rows, predictions):
        row[PREDICTION] = p
  return rows


def _predict_rows(predict_log, spec) -> List[Dict[str, Any]]:
  """A Predict request's rows, each with its prediction (the spec's
  output key)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  inputs = predict_log.request.inputs
  if features.EXAMPLES_INPUT in inputs:
    rows = [example_fields(tf.train.Example.FromString(s), spec) for s in
            tf.make_ndarray(inputs[features.EXAMPLES_INPUT]).ravel()]
  elif any(f.key in inputs for f in spec.features):
    rows = _spec_columns(inputs, spec)
  else:
    return []
  return _with_predictions(rows, predict_log.response.outputs,
                           spec.output_key, _spec_predictions)


def to_rows(logs, model_name: Optional[str], spec) -> ServedRows:
  """Raw-feature rows of every logged request (of model_name, if given),
  in the spec's columns."""
  served = ServedRows([])
  for log in logs:
    model_spec = log.log_metadata.model_spec
    if model_name and model_spec.name and model_spec.name != model_name:
      served.skipped_records += 1
      continue
    kind = log.WhichOneof('log_type')
    if kind == 'predict_log':
      rows = _predict_rows(log.predict_log, spec)
      version = model_spec.version.value or (
          log.predict_log.response.model_spec.version.value)
      label = log.predict_log.request.model_spec.version_label
    elif kind in ('classify_log', 'regress_log', 'multi_inference_log'):
      request = getattr(log, kind).request
      rows = [example_fields(e, spec) for e in _examples_of(request.input)]
      version = model_spec.version.value
      label = request.model_spec.version_label
    else:
      rows, label = [], ''
    if not rows:
      served.skipped_records += 1
      continue
    for row in rows:
      row[VERSION] = int(version) if version else None
      if label:
        row[LABEL] = label
    served.rows.extend(rows)
  return served
