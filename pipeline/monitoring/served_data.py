"""Logged requests turned back into the pipeline's raw features.

Both signatures the clients call are read: `predict_raw` (one string tensor
per raw feature) and `serving_default` (serialized tf.Examples), as well as
the tf.Examples of Classify, Regress and MultiInference requests. Each row
keeps the model version that answered it, the join key (`complaint_id`, when
the client sent it) and the predicted probability (Predict only).
"""

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


def _strings(tensor) -> List[str]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values = tf.make_ndarray(tensor).ravel().tolist()
  return [v.decode('utf-8', 'replace') if isinstance(v, bytes) else str(v)
          for v in values]


def _floats(tensor) -> List[float]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [float(v) for v in tf.make_ndarray(tensor).ravel().tolist()]


def example_fields(example) -> Dict[str, str]:
  """Raw features (and the join key) of a tf.Example; '' where missing."""
  row = {}
  for key in features.RAW_FEATURES + [features.ID_KEY]:
    feature = example.features.feature.get(key)
    kind = feature.WhichOneof('kind') if feature is not None else None
    values = getattr(feature, kind).value if kind else []
    value = values[0] if len(values) else ''
    row[key] = value.decode('utf-8', 'replace') if isinstance(
        value, bytes) else str(value)
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


def _predict_rows(predict_log) -> List[Dict[str, Any]]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  inputs = predict_log.request.inputs
  if features.EXAMPLES_INPUT in inputs:
    rows = [example_fields(tf.train.Example.FromString(s)) for s in
            tf.make_ndarray(inputs[features.EXAMPLES_INPUT]).ravel()]
  elif any(key in inputs for key in features.RAW_FEATURES):
    columns = {key: _strings(inputs[key]) for key in features.RAW_FEATURES +
               [features.ID_KEY] if key in inputs}
    count = max(len(v) for v in columns.values())
    rows = [{key: (columns[key][i] if key in columns and i < len(
        columns[key]) else '') for key in features.RAW_FEATURES +
             [features.ID_KEY]} for i in range(count)]
  else:
    return []
  outputs = predict_log.response.outputs
  if features.OUTPUT_KEY in outputs:
    predictions = _floats(outputs[features.OUTPUT_KEY])
    if len(predictions) == len(rows):
      for row, p in zip(rows, predictions):
        row[PREDICTION] = p
  return rows


def to_rows(logs, model_name: Optional[str] = None) -> ServedRows:
  """Raw-feature rows of every logged request (of model_name, if given)."""
  served = ServedRows([])
  for log in logs:
    spec = log.log_metadata.model_spec
    if model_name and spec.name and spec.name != model_name:
      served.skipped_records += 1
      continue
    kind = log.WhichOneof('log_type')
    if kind == 'predict_log':
      rows = _predict_rows(log.predict_log)
      version = spec.version.value or (
          log.predict_log.response.model_spec.version.value)
      label = log.predict_log.request.model_spec.version_label
    elif kind in ('classify_log', 'regress_log', 'multi_inference_log'):
      request = getattr(log, kind).request
      rows = [example_fields(e) for e in _examples_of(request.input)]
      version = spec.version.value
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
