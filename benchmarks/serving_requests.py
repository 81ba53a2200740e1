"""Benchmark requests built from real CFPB complaints.

The serving benchmark must cost the server what real traffic costs it, and
the narrative dominates that: its length sets the JSON size, the tf.Example
size and the Transform graph's tokenizing work. So requests are made of the
180 real rows with a narrative in data/real/ (the CFPB's own text and its
length distribution: median 728 characters, 90th percentile 2,627, longest
3,915), sampled with a fixed seed, rather than short synthetic sentences.

Everything here is plain data (JSON bytes, serialized protos, feature
dicts): the load generators send bytes and import neither TensorFlow nor the
serving package.
"""

import json
import os
import random
import statistics
from typing import Dict, List, Sequence

from components import features

REAL_ROWS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'data', 'real', 'cfpb_labelled_narratives.csv')
SEED = 16
# Distinct requests per configuration: enough that narratives of every
# length recur, few enough that building them stays instant.
DISTINCT_REQUESTS = 64


def real_rows(path: str = REAL_ROWS) -> List[Dict[str, str]]:
  """The export rows with a narrative, as raw feature dicts (strings)."""
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  frame = cfpb_export.read_export(path)
  rows = []
  for record in frame.to_dict('records'):
    row = {name: '' for name in features.RAW_FEATURES}
    for column, value in record.items():
      key = features.EXPORT_TO_FEATURE.get(column)
      if key is not None:
        row[key] = value or ''
    if row[features.NARRATIVE]:
      rows.append(row)
  return rows


def batches(rows: Sequence[Dict[str, str]], batch: int,
            count: int = DISTINCT_REQUESTS, seed: int = SEED
            ) -> List[List[Dict[str, str]]]:
  """`count` requests of `batch` rows each, drawn with replacement."""
  rng = random.Random(seed * 1000 + batch)
  return [[rng.choice(rows) for _ in range(batch)] for _ in range(count)]


def rest_body(rows: Sequence[Dict[str, str]]) -> bytes:
  """A REST `predict_raw` request in the row (`instances`) format."""
  return json.dumps({'signature_name': features.RAW_SIGNATURE,
                     'instances': list(rows)}).encode('utf-8')


def grpc_request(rows: Sequence[Dict[str, str]], model_name: str) -> bytes:
  """A serialized PredictRequest: serialized tf.Examples to serving_default.

  Built like serving.client_grpc.GrpcClient builds it (typed
  `string_val`), so the server decodes what real clients send.
  """
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = features.EXAMPLES_SIGNATURE
  tensor = request.inputs[features.EXAMPLES_INPUT]
  tensor.dtype = 7  # DT_STRING
  tensor.tensor_shape.dim.add().size = len(rows)
  for row in rows:
    example = example_pb2.Example()
    for key in features.RAW_FEATURES:
      example.features.feature[key].bytes_list.value.append(
          row[key].encode('utf-8'))
    tensor.string_val.append(example.SerializeToString())
  return request.SerializeToString()


def length_summary(rows: Sequence[Dict[str, str]]) -> Dict[str, float]:
  """Narrative lengths (characters) of the rows the requests draw from."""
  lengths = sorted(len(r[features.NARRATIVE]) for r in rows)
  pick = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]
  return {'rows': len(lengths), 'p10': pick(0.1),
          'median': statistics.median(lengths), 'p90': pick(0.9),
          'max': lengths[-1], 'mean': round(statistics.mean(lengths), 1)}
