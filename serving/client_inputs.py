"""A complaint as the model's inputs: raw feature rows and tf.Examples.

A complaint is a dict keyed by the CFPB export's column names ("Product",
"ZIP code", "Consumer complaint narrative", ...); `components.features`
maps them to the model's raw features, and missing fields are sent as empty
strings. REST sends the rows to `predict_raw`; gRPC and the bulk scorer
send serialized tf.Examples to `serving_default`. Kept apart from the
protocol clients because tests and benchmarks build the same inputs without
a client, and both protocols must encode a complaint the same way.
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence

from components import features

OUTPUT_KEY = features.OUTPUT_KEY
RAW_SIGNATURE = features.RAW_SIGNATURE
EXAMPLES_SIGNATURE = features.EXAMPLES_SIGNATURE
EXAMPLES_INPUT = features.EXAMPLES_INPUT


def to_features(complaint: Mapping[str, Any]) -> Dict[str, str]:
  """Export columns -> raw feature values (strings; missing -> '')."""
  values = {name: '' for name in features.RAW_FEATURES}
  for column, value in complaint.items():
    key = features.EXPORT_TO_FEATURE.get(column)
    if key is None and column in values:
      key = column  # Already a feature name.
    if key is not None:
      values[key] = '' if value is None else str(value)
  return values


def serialized_examples(rows: Sequence[Mapping[str, str]],
                        ids: Optional[Sequence[str]] = None) -> List[bytes]:
  """Serialized tf.Examples of raw features, plus `complaint_id` if given.

  The ID is one more bytes feature (features.ID_KEY); the model's
  tf.io.parse_example ignores features outside its spec.
  """
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  serialized = []
  for i, row in enumerate(rows):
    example = example_pb2.Example()
    feature = example.features.feature
    for key in features.RAW_FEATURES:
      feature[key].bytes_list.value.append(row.get(key, '').encode('utf-8'))
    if ids is not None:
      feature[features.ID_KEY].bytes_list.value.append(
          str(ids[i]).encode('utf-8'))
    serialized.append(example.SerializeToString())
  return serialized
