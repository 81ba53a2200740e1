"""One row of any data set, as its dataset spec describes it, scored over
TF Serving's REST or gRPC API (`python -m serving.client --dataset SPEC
--row JSON`).

The row is a JSON object keyed by the CSV's own column names (a feature's
key works too); the values go to `predict_raw` typed per column, the same
on both protocols: a numeric column as a float (missing: NaN, which TF
Serving's REST parser and ours accept), a categorical or text column as a
string (missing: ''). Columns the model does not read (the label, the ID,
the timestamp, ignored ones) may be left in, so a CSV row can be pasted as
it is; a column the spec does not know is an error that lists the known
ones. The answer is the positive class's probability for a binary label,
each class's for a multi-class one.
"""

import math
import time
from typing import Any, Dict, Mapping

from components import dataset_spec
from serving.client_inputs import RAW_SIGNATURE
from serving.client_types import UsageError


def row_inputs(spec: dataset_spec.DatasetSpec,
               row: Mapping[str, Any]) -> Dict[str, Any]:
  """{feature key: float or str} for predict_raw, every feature present.

  Raises:
    UsageError: an unknown column, or a numeric column's value that is not
      a number.
  """
  by_name = {}
  for feature in spec.features:
    by_name[feature.column] = by_name[feature.key] = feature
  passive = set(spec.columns) | set(spec.ignore) | {spec.label.key,
                                                    spec.join_key}
  unknown = [c for c in row if c not in by_name and c not in passive]
  if unknown:
    raise UsageError(
        f'--row: {unknown[0]!r} is not a column of the dataset spec '
        f'{spec.name} (its features: '
        f'{", ".join(f.column for f in spec.features)})')
  values: Dict[str, Any] = {}
  for feature in spec.features:
    value = row.get(feature.column, row.get(feature.key))
    text = '' if value is None else str(value).strip()
    missing = text == '' or text in spec.missing
    if feature.kind == 'numeric':
      if missing:
        values[feature.key] = math.nan
        continue
      try:
        values[feature.key] = float(text)
      except ValueError:
        raise UsageError(f'--row: {feature.column} is numeric, not '
                         f'{value!r}') from None
    else:
      values[feature.key] = '' if missing else text
  return values


def _result(spec, outputs, version, name, protocol, started) -> Dict:
  values = [float(v) for v in outputs]
  result: Dict[str, Any] = {'model_name': name, 'model_version': version,
                            'protocol': protocol}
  if spec.multiclass:
    result[spec.output_key] = dict(zip(spec.label.classes, values))
    result['predicted_class'] = spec.label.classes[
        max(range(len(values)), key=values.__getitem__)]
  else:
    result[spec.output_key] = values[0]
  result['latency_ms'] = round((time.perf_counter() - started) * 1e3, 2)
  return result


def predict_rest(client, spec, inputs: Dict[str, Any],
                 explain: bool = False) -> Dict[str, Any]:
  """predict_raw over REST (client: a serving.client_rest.RestClient);
  explain: the same body to `:explain`, its answer's explanation kept
  under `explanation`."""
  started = time.perf_counter()
  version = client.model_version()
  call = client.explain_json if explain else client.predict_json
  payload = call({'signature_name': RAW_SIGNATURE, 'instances': [inputs]})
  first = payload['predictions'][0]
  outputs = first if isinstance(first, list) else [first]
  result = _result(spec, outputs, version, client.model_name, 'rest',
                   started)
  if explain:
    result['explanation'] = payload['explanations'][0]
  return result


def predict_grpc(client, spec, inputs: Dict[str, Any]) -> Dict[str, Any]:
  """predict_raw over gRPC (client: a serving.client_grpc.GrpcClient)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  request = client.new_request(RAW_SIGNATURE)
  kinds = {f.key: f.kind for f in spec.features}
  for key, value in inputs.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(
        [value], dtype=tf.float32 if kinds[key] == 'numeric' else tf.string))
  response = client.call(request)
  outputs = tf.make_ndarray(response.outputs[spec.output_key]).reshape(-1)
  return _result(spec, outputs, response.model_spec.version.value,
                 client.model_name, 'grpc', started)


def render(spec, result: Dict[str, Any]) -> str:
  """The one line a person reads before the JSON."""
  head = (f"{result['model_name']} v{result['model_version']} over "
          f"{result['protocol']}: ")
  value = result[spec.output_key]
  if spec.multiclass:
    return head + ', '.join(f'P({c}) = {p:.4f}' for c, p in value.items()) \
        + f" ({result['latency_ms']:.1f} ms)"
  return (head + f'P({spec.label.column} = {spec.label.positive}) = '
          f"{value:.4f} ({result['latency_ms']:.1f} ms)")
