"""Bulk scoring of any data set's CSV, each row with its join key
(`python -m serving.client --dataset SPEC --rows FILE.csv --out scores.csv`).

The dataset spec's counterpart of client_bulk.py (the CFPB export): every
row goes to `serving_default` over gRPC as a serialized tf.Example typed as
the model reads it (the spec's curated schema says INT, FLOAT or BYTES per
feature; a missing value is left out, which the model parses as missing),
plus the row's join key as one more bytes feature: the spec's ID, or the
row key the converter derives from the row's values (data/spec_frame.py),
so the labels that come back later (`pipeline feedback --dataset SPEC`,
the labelled rows themselves) meet the logged request. With
`--canary-share`, a hash of the key sends each row to the label `canary`
or `stable`, the same way on every run (client_ab.is_canary). A batch the
server rejects is counted and skipped.
"""

import csv
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from serving.client_ab import is_canary
from serving.client_types import ClientError, UsageError


def schema_types(spec) -> Dict[str, str]:
  """{feature key: 'INT' | 'FLOAT' | 'BYTES'} from the spec's curated
  schema (what CsvExampleGen gave each column, so what parse_example
  expects)."""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  schema = schema_pb2.Schema()
  with open(spec.schema_path, encoding='utf-8') as f:
    text_format.Parse(f.read(), schema)
  return {f.name: schema_pb2.FeatureType.Name(f.type)
          for f in schema.feature}


def read_rows(path: str, spec):
  """The CSV's rows in the pipeline's columns (join key first, features
  typed); a label column may be there or not.

  Raises:
    UsageError: a file that cannot be read, or does not fit the spec.
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  try:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return spec_frame.features_frame(frame, spec, os.path.basename(path))
  except OSError as e:
    raise UsageError(f'--rows: cannot read {path}: {e.strerror or e}'
                     ) from None
  except (dataset_spec.SpecError, spec_frame.DataKindError,
          pd.errors.ParserError, pd.errors.EmptyDataError) as e:
    raise UsageError(f'--rows: {e}') from None


def _feature(value, kind: str):
  from tensorflow.core.example import feature_pb2  # pylint: disable=g-import-not-at-top
  feature = feature_pb2.Feature()
  if value is None or (isinstance(value, float) and math.isnan(value)) or (
      value == ''):
    return feature   # no value: missing, as Transform reads it
  if kind == 'FLOAT':
    feature.float_list.value.append(float(value))
  elif kind == 'INT':
    feature.int64_list.value.append(int(float(value)))
  else:
    feature.bytes_list.value.append(str(value).encode('utf-8'))
  return feature


def serialized_rows(rows, spec, types: Dict[str, str]) -> List[bytes]:
  """Serialized tf.Examples of the rows, the join key included."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  out = []
  keys = [f.key for f in spec.features]
  for record in rows.to_dict('records'):
    example = example_pb2.Example()
    for key in keys:
      example.features.feature[key].CopyFrom(
          _feature(record[key], types.get(key, 'BYTES')))
    example.features.feature[spec.join_key].bytes_list.value.append(
        str(record[spec.join_key]).encode('utf-8'))
    out.append(example.SerializeToString())
  return out


def _arms(keys: Sequence[str], share: Optional[float]
          ) -> Dict[Optional[str], List[int]]:
  """Row indices per version label (None: no label, the latest)."""
  if share is None:
    return {None: list(range(len(keys)))}
  arms: Dict[Optional[str], List[int]] = {'stable': [], 'canary': []}
  for i, key in enumerate(keys):
    arms['canary' if is_canary(key, share) else 'stable'].append(i)
  return {label: rows for label, rows in arms.items() if rows}


def _outputs(response, spec) -> List[Any]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  array = tf.make_ndarray(response.outputs[spec.output_key])
  if spec.multiclass:
    return [[float(p) for p in row] for row in array.reshape(len(array), -1)]
  return [float(v) for v in array.reshape(-1)]


def score_rows(make_client, spec, rows, out: str, batch_size: int = 64,
               share: Optional[float] = None, request_log=None,
               progress=None) -> Dict[str, Any]:
  """Scores the rows over gRPC in batches; writes `<join key>,<output>,
  model_version,label` rows to `out` (renamed into place at the end).

  make_client(label) returns a GrpcClient for a version label (None: the
  client's own version or label). Returns the summary printed as JSON.
  """
  start = time.monotonic()
  types = schema_types(spec)
  keys = [str(k) for k in rows[spec.join_key]]
  sent = failed = failed_batches = 0
  versions: Dict[int, int] = {}
  errors: List[str] = []
  temp = os.path.join(os.path.dirname(os.path.abspath(out)),
                      f'.{os.path.basename(out)}.{os.getpid()}.tmp')
  try:
    with open(temp, 'w', newline='', encoding='utf-8') as f:
      writer = csv.writer(f)
      writer.writerow([spec.join_key, spec.output_key, 'model_version',
                       'label'])
      for label, indices in _arms(keys, share).items():
        client = make_client(label)
        try:
          for begin in range(0, len(indices), batch_size):
            batch = indices[begin:begin + batch_size]
            serialized = serialized_rows(rows.iloc[batch], spec, types)
            try:
              request = client.examples_request(serialized)
              response = client.call(request)
              values = _outputs(response, spec)
              if len(values) != len(batch):
                raise ClientError(f'{len(values)} predictions for '
                                  f'{len(batch)} examples')
            except ClientError as e:
              failed += len(batch)
              failed_batches += 1
              if len(errors) < 5:
                errors.append(str(e))
            else:
              sent += len(batch)
              version = response.model_spec.version.value
              versions[version] = versions.get(version, 0) + len(batch)
              for i, value in zip(batch, values):
                writer.writerow([keys[i], value, version, label or ''])
              if request_log is not None:
                request_log.log(request, response)
            if progress is not None:
              progress.update(sent + failed, failed)
        finally:
          client.close()
    os.replace(temp, out)
  finally:
    if os.path.exists(temp):
      os.unlink(temp)
  return {'sent': sent, 'failed': failed, 'rows': len(keys),
          'failed_batches': failed_batches, 'errors': errors,
          'join_key': spec.join_key, 'canary_share': share,
          'model_versions': {str(v): n for v, n in sorted(versions.items())},
          'out': os.path.abspath(out),
          'seconds': round(time.monotonic() - start, 3)}


def check_ab(share: Optional[float], version, label) -> Tuple[bool, str]:
  """(ok, why not) for --canary-share with --version or --label."""
  if share is None:
    return True, ''
  if not 0.0 <= share <= 1.0:
    return False, f'--canary-share must be between 0 and 1, not {share}'
  if version is not None or label:
    return False, ('--canary-share sends to the labels stable and canary: '
                   'give no --version or --label')
  return True, ''
