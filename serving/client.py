"""Clients for the complaint model over TF Serving's REST and gRPC APIs.

A complaint is a dict keyed by the CFPB export's column names ("Product",
"ZIP code", "Consumer complaint narrative", ...); `components.features`
maps them to the model's raw features, and missing fields are sent as empty
strings. REST calls the `predict_raw` signature (row format); gRPC sends a
serialized tf.Example to `serving_default` with the official stubs. Both work
against this project's server and the real TF Serving alike.

Bulk scoring (`--complaints FILE.csv`, `score_complaints`) sends every row of
a CFPB export to `serving_default` as serialized tf.Examples, over gRPC (a
string tensor) or REST (`{"b64": ...}`), in batches. Each Example carries
the row's `Complaint ID` as one more bytes feature, `complaint_id`: the
join key with the feedback that arrives later. The model's
tf.io.parse_example reads only the features of its spec and ignores others,
so no model change is needed, the request stays a plain TF Serving request,
and the ID travels inside the request that the server logs (PredictionLog).
With `--request_log_prefix` the client writes those PredictionLogs itself,
which gives a deployment on the real TF Serving (which has no log
collector) the same files.

CLI: python -m serving.client --help
"""

import argparse
import base64
import csv
import dataclasses
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Sequence

from components import features

OUTPUT_KEY = features.OUTPUT_KEY
RAW_SIGNATURE = features.RAW_SIGNATURE
EXAMPLES_SIGNATURE = features.EXAMPLES_SIGNATURE
EXAMPLES_INPUT = features.EXAMPLES_INPUT


class ClientError(Exception):
  """A failed call, with the server's message when there is one."""

  def __init__(self, message: str, code: Optional[str] = None):
    super().__init__(message)
    self.code = code


@dataclasses.dataclass(frozen=True)
class Prediction:
  disputed_probability: float
  model_version: Optional[int]
  model_name: str
  protocol: str
  latency_ms: float


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


def _model_path(model_name: str, version: Optional[int],
                label: Optional[str]) -> str:
  if version is not None and label:
    raise ClientError('Give either a version or a label, not both.')
  path = f'/v1/models/{urllib.parse.quote(model_name, safe="")}'
  if version is not None:
    path += f'/versions/{int(version)}'
  elif label:
    path += f'/labels/{urllib.parse.quote(label, safe="")}'
  return path


class RestClient:
  """Talks to `{host}:{port}/v1/models/...` over one keep-alive connection."""

  def __init__(self, host: str = 'localhost', port: int = 8501,
               model_name: str = 'complaints', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = 10.0):
    self.host, self.port, self.timeout = host, port, timeout
    self.model_name = model_name
    self.version, self.label = version, label
    self._path = _model_path(model_name, version, label)
    self._conn: Optional[http.client.HTTPConnection] = None

  def _request(self, method: str, path: str, body: Optional[bytes] = None):
    for attempt in (0, 1):
      if self._conn is None:
        self._conn = http.client.HTTPConnection(self.host, self.port,
                                                timeout=self.timeout)
      try:
        headers = {'Content-Type': 'application/json'} if body else {}
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        break
      except socket.timeout:
        self.close()
        raise ClientError(f'Timed out after {self.timeout}s waiting for '
                          f'{self.host}:{self.port}', 'DEADLINE_EXCEEDED')
      except (ConnectionError, http.client.HTTPException, OSError) as e:
        self.close()
        if attempt:  # One retry covers a keep-alive connection gone stale.
          raise ClientError(f'Cannot reach the model server at {self.host}:'
                            f'{self.port} over REST: {e}', 'UNAVAILABLE')
    try:
      payload = json.loads(data) if data else {}
    except ValueError:
      payload = {'error': data.decode('utf-8', 'replace')}
    if response.status != 200:
      raise ClientError(f'HTTP {response.status}: '
                        f'{payload.get("error", payload)}', str(response.status))
    return payload

  def predict_features(self, rows: Sequence[Mapping[str, str]]) -> List[float]:
    body = json.dumps({'signature_name': RAW_SIGNATURE,
                       'instances': [dict(r) for r in rows]}).encode('utf-8')
    payload = self._request('POST', self._path + ':predict', body)
    return [float(p[0] if isinstance(p, list) else p)
            for p in payload['predictions']]

  def predict_examples(self, serialized: Sequence[bytes]) -> List[float]:
    """serving_default on serialized tf.Examples, as {"b64": ...} values."""
    body = json.dumps({
        'signature_name': EXAMPLES_SIGNATURE,
        'instances': [{EXAMPLES_INPUT: {
            'b64': base64.b64encode(s).decode('ascii')}} for s in serialized],
    }).encode('utf-8')
    payload = self._request('POST', self._path + ':predict', body)
    return [float(p[0] if isinstance(p, list) else p)
            for p in payload['predictions']]

  def pin_version(self) -> int:
    """Resolves the version (latest or label) and sends to it from now on.

    TF Serving's REST predict answer carries no version; pinned, every
    answer is known to come from the version returned here.
    """
    self._path = _model_path(self.model_name, self.version, self.label)
    version = self.model_version()
    self._path = _model_path(self.model_name, version, None)
    return version

  def model_version(self) -> Optional[int]:
    """The version a request to this path resolves to (from /metadata).

    TF Serving's REST predict answer carries no version, so it is read from
    the metadata endpoint of the same model path.
    """
    payload = self._request('GET', self._path + '/metadata')
    return int(payload['model_spec']['version'])

  def predict(self, complaint: Mapping[str, Any]) -> Prediction:
    start = time.perf_counter()
    version = self.model_version()
    probability = self.predict_features([to_features(complaint)])[0]
    return Prediction(probability, version, self.model_name, 'rest',
                      (time.perf_counter() - start) * 1e3)

  def close(self) -> None:
    if self._conn is not None:
      self._conn.close()
      self._conn = None


class GrpcClient:
  """PredictionService.Predict with serialized tf.Examples."""

  def __init__(self, host: str = 'localhost', port: int = 8500,
               model_name: str = 'complaints', version: Optional[int] = None,
               label: Optional[str] = None, timeout: float = 10.0):
    import grpc  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
    if version is not None and label:
      raise ClientError('Give either a version or a label, not both.')
    self.model_name, self.version, self.label = model_name, version, label
    self.timeout = timeout
    self.target = f'{host}:{port}'
    self._channel = grpc.insecure_channel(self.target)
    self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
        self._channel)

  def _request(self, rows: Sequence[Mapping[str, str]]):
    return self.examples_request(serialized_examples(rows))

  def examples_request(self, serialized: Sequence[bytes]):
    """A PredictRequest for serving_default on serialized tf.Examples."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model_name
    request.model_spec.signature_name = EXAMPLES_SIGNATURE
    if self.version is not None:
      request.model_spec.version.value = int(self.version)
    elif self.label:
      request.model_spec.version_label = self.label
    request.inputs[EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto(list(serialized), dtype=tf.string))
    return request

  def predict_features(self, rows: Sequence[Mapping[str, str]]):
    """Returns (probabilities, model version)."""
    values, response = self.predict_request(self._request(rows))
    return values, response.model_spec.version.value

  def predict_request(self, request):
    """Sends a PredictRequest; returns (probabilities, the response)."""
    import grpc  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as e:
      code = e.code()
      if code == grpc.StatusCode.UNAVAILABLE:
        raise ClientError(f'Cannot reach the model server at {self.target} '
                          f'over gRPC: {e.details()}', code.name) from None
      if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise ClientError(f'Timed out after {self.timeout}s waiting for '
                          f'{self.target}', code.name) from None
      raise ClientError(f'{code.name}: {e.details()}', code.name) from None
    values = tf.make_ndarray(response.outputs[OUTPUT_KEY]).reshape(-1)
    return [float(v) for v in values], response

  def predict(self, complaint: Mapping[str, Any]) -> Prediction:
    start = time.perf_counter()
    values, version = self.predict_features([to_features(complaint)])
    return Prediction(values[0], version, self.model_name, 'grpc',
                      (time.perf_counter() - start) * 1e3)

  def close(self) -> None:
    self._channel.close()


def make_client(protocol: str, **kwargs):
  if protocol == 'rest':
    return RestClient(**kwargs)
  if protocol == 'grpc':
    return GrpcClient(**kwargs)
  raise ClientError(f'Unknown protocol {protocol!r}: use rest or grpc.')


# ---- bulk scoring ------------------------------------------------------------


class Progress:
  """A progress bar on stderr: redrawn in place on a terminal, otherwise
  one line per 10% (so logs stay short)."""

  def __init__(self, total: int, stream=None, width: int = 30):
    self.total, self.width = max(total, 0), width
    self.stream = sys.stderr if stream is None else stream
    self.tty = getattr(self.stream, 'isatty', lambda: False)()
    self.start = time.monotonic()
    self._last_decile = -1

  def update(self, done: int, failed: int) -> None:
    fraction = done / self.total if self.total else 1.0
    decile = int(fraction * 10)
    if not self.tty and decile == self._last_decile and done < self.total:
      return
    self._last_decile = decile
    filled = int(fraction * self.width)
    rate = done / max(time.monotonic() - self.start, 1e-9)
    line = (f'[{"#" * filled}{"." * (self.width - filled)}] {done}/'
            f'{self.total} rows {fraction:4.0%}  {rate:,.0f} rows/s'
            + (f'  {failed} failed' if failed else ''))
    self.stream.write(('\r' + line) if self.tty else (line + '\n'))
    self.stream.flush()

  def close(self) -> None:
    if self.tty:
      self.stream.write('\n')
      self.stream.flush()


class ClientRequestLog:
  """PredictionLogs of what the client sent and got, as the server writes.

  For a deployment on the real TF Serving, which has no log collector: the
  same files (TFRecord of PredictionLog, names beginning with the prefix,
  log_metadata with model name, version and signature), written by the
  client instead of the server. Nothing is dropped (the writer blocks).
  """

  def __init__(self, prefix: str, max_file_bytes: Optional[int] = None):
    from serving import request_logger  # pylint: disable=g-import-not-at-top
    self._lib = request_logger
    self.collector = request_logger.TFRecordCollector(
        os.path.abspath(prefix),
        max_file_bytes=max_file_bytes or request_logger.DEFAULT_MAX_FILE_BYTES,
        block=True)

  def log(self, request, response) -> None:
    from tensorflow_serving.apis import logging_pb2  # pylint: disable=g-import-not-at-top
    metadata = logging_pb2.LogMetadata()
    metadata.model_spec.name = response.model_spec.name
    metadata.model_spec.version.value = response.model_spec.version.value
    metadata.model_spec.signature_name = response.model_spec.signature_name
    metadata.sampling_config.sampling_rate = 1.0
    metadata.timestamp_secs = int(time.time())
    self.collector.collect(
        metadata.model_spec.name,
        lambda: self._lib.build_log('predict', request, response, metadata))

  def close(self) -> List[str]:
    self.collector.close(timeout=60)
    return list(self.collector.files)


def _rest_exchange(client: 'RestClient', serialized: Sequence[bytes],
                   version: int):
  """A REST batch, with the protos TF Serving would log for it."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  from serving import tensor_proto  # pylint: disable=g-import-not-at-top
  values = client.predict_examples(serialized)
  request = predict_pb2.PredictRequest()
  request.model_spec.name = client.model_name
  request.model_spec.version.value = version
  request.model_spec.signature_name = EXAMPLES_SIGNATURE
  request.inputs[EXAMPLES_INPUT].CopyFrom(
      tf.make_tensor_proto(list(serialized), dtype=tf.string))
  response = predict_pb2.PredictResponse()
  response.model_spec.name = client.model_name
  response.model_spec.version.value = version
  response.model_spec.signature_name = EXAMPLES_SIGNATURE
  # Typed fields (float_val), as TF Serving's AsProtoField writes them.
  response.outputs[OUTPUT_KEY].CopyFrom(tensor_proto.to_proto(
      np.array(values, np.float32).reshape(-1, 1)))
  return values, request, response


def read_complaints(path: str):
  """(Complaint IDs, raw feature rows) of a CFPB export CSV.

  Raises UsageError for a file that cannot be read, is not in the export
  layout, or has a row without a Complaint ID (the join key).
  """
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  try:
    frame = cfpb_export.read_export(path)
  except OSError as e:
    raise UsageError(f'--complaints: cannot read {path}: '
                     f'{e.strerror or e}') from None
  except cfpb_export.ExportFormatError as e:
    raise UsageError(f'--complaints: {e}') from None
  ids = [str(v).strip() for v in frame[features.ID_EXPORT_COLUMN]]
  missing = [i for i, v in enumerate(ids, start=1) if not v]
  if missing:
    raise UsageError(
        f'--complaints: {path}: {len(missing)} row(s) without a '
        f'{features.ID_EXPORT_COLUMN} (the join key for feedback), first: '
        f'data row {missing[0]}')
  columns = {column: list(frame[column])
             for column in features.EXPORT_TO_FEATURE}
  rows = [{key: str(columns[column][i])
           for column, key in features.EXPORT_TO_FEATURE.items()}
          for i in range(len(ids))]
  return ids, rows


def score_complaints(client, ids: Sequence[str],
                     rows: Sequence[Mapping[str, str]], out: str,
                     batch_size: int = 64, progress: Optional[Progress] = None,
                     request_log: Optional[ClientRequestLog] = None
                     ) -> Dict[str, Any]:
  """Scores rows in batches; writes `Complaint ID,disputed_probability,
  model_version` rows to `out` (a temp file renamed at the end).

  A batch the server rejects is counted as failed (its rows are not
  written) and scoring goes on. Returns the summary printed as JSON.
  """
  protocol = 'rest' if isinstance(client, RestClient) else 'grpc'
  start = time.monotonic()
  sent = failed = batches = failed_batches = 0
  versions: Dict[int, int] = {}
  errors: List[str] = []
  version: Optional[int] = None
  directory = os.path.dirname(os.path.abspath(out))
  temp = os.path.join(directory,
                      f'.{os.path.basename(out)}.{os.getpid()}.tmp')
  with open(temp, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow([features.ID_EXPORT_COLUMN, OUTPUT_KEY, 'model_version'])
    try:
      for begin in range(0, len(rows), batch_size):
        batch_ids = ids[begin:begin + batch_size]
        serialized = serialized_examples(rows[begin:begin + batch_size],
                                         batch_ids)
        batches += 1
        try:
          if protocol == 'rest':
            for attempt in (0, 1):
              if version is None:
                version = client.pin_version()
              try:
                values, request, response = _rest_exchange(
                    client, serialized, version)
                break
              except ClientError as e:
                if e.code != '404' or attempt:
                  raise
                version = None  # Pinned version unloaded: resolve again.
          else:
            request = client.examples_request(serialized)
            values, response = client.predict_request(request)
          batch_version = response.model_spec.version.value
          if len(values) != len(batch_ids):
            raise ClientError(f'{len(values)} predictions for '
                              f'{len(batch_ids)} examples')
        except ClientError as e:
          failed += len(batch_ids)
          failed_batches += 1
          if len(errors) < 5:
            errors.append(str(e))
        else:
          sent += len(batch_ids)
          versions[batch_version] = versions.get(batch_version, 0) + len(
              batch_ids)
          for complaint_id, value in zip(batch_ids, values):
            writer.writerow([complaint_id, repr(float(value)), batch_version])
          if request_log is not None:
            request_log.log(request, response)
        if progress is not None:
          progress.update(sent + failed, failed)
    except BaseException:
      f.close()
      os.unlink(temp)
      raise
  os.replace(temp, out)
  if progress is not None:
    progress.close()
  latest = max(versions, key=versions.get) if versions else None
  return {'sent': sent, 'failed': failed, 'rows': len(rows),
          'batches': batches, 'failed_batches': failed_batches,
          'model_version': latest,
          'model_versions': {str(v): n for v, n in sorted(versions.items())},
          'model_name': client.model_name, 'protocol': protocol,
          'out': os.path.abspath(out), 'errors': errors,
          'seconds': round(time.monotonic() - start, 3)}


_EXAMPLES = """examples:
  python -m serving.client --protocol rest --port 8501 \\
      --complaint '{"Product": "Mortgage", "State": "CA", "ZIP code": "940XX",
                    "Consumer complaint narrative": "They charged me twice."}'
  python -m serving.client --protocol grpc --port 8500 --label canary \\
      --complaint @complaint.json

  # Every row of an export CSV, 64 per request; Complaint IDs travel along:
  python -m serving.client --protocol grpc --port 8500 \
      --complaints complaints.csv --out scores.csv --batch-size 64

The last line printed is JSON, e.g.
  {"disputed_probability": 0.23, "model_version": 1700000000, ...}
  {"sent": 5000, "failed": 0, "model_version": 1700000000, ...} (--complaints)
"""


class UsageError(ClientError):
  """A bad command-line argument (exit 2, like argparse's own errors)."""


def _load_complaint(text: str) -> Dict[str, Any]:
  if text.startswith('@'):
    path = text[1:]
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      raise UsageError(
          f'--complaint: cannot read {path}: {e.strerror}') from None
    try:
      text = data.decode('utf-8')
    except UnicodeDecodeError as e:
      raise UsageError(
          f'--complaint {path} is not UTF-8 text (byte 0x{data[e.start]:02x} '
          f'at offset {e.start})') from None
  try:
    complaint = json.loads(text)
  except ValueError as e:
    raise UsageError(f'--complaint is not valid JSON: {e}') from None
  if not isinstance(complaint, dict):
    raise UsageError('--complaint must be a JSON object of export fields')
  return complaint


class _Parser(argparse.ArgumentParser):
  """Bad arguments are one `error:` line and exit 2 (no usage dump)."""

  def error(self, message):
    self.exit(2, f'error: {message} (see --help)\n')


def _positive(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value < 1:
    raise argparse.ArgumentTypeError(f'expected a positive integer, got '
                                     f'{text!r}')
  return value


def main(argv: Optional[List[str]] = None) -> int:
  parser = _Parser(
      prog='python -m serving.client',
      description='Score CFPB complaints with a TF Serving-compatible '
                  'server: one (--complaint) or a whole export CSV '
                  '(--complaints).', epilog=_EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--protocol', choices=('rest', 'grpc'), default='rest')
  parser.add_argument('--host', default='localhost')
  parser.add_argument('--port', type=int,
                      help='default: 8501 for rest, 8500 for grpc')
  parser.add_argument('--model_name', '--model-name', default='complaints')
  target = parser.add_mutually_exclusive_group()
  target.add_argument('--version', type=int, help='a specific model version')
  target.add_argument('--label', help='a version label, e.g. stable, canary')
  what = parser.add_mutually_exclusive_group(required=True)
  what.add_argument('--complaint',
                    help='JSON object of export columns, or @file.json')
  what.add_argument('--complaints', metavar='FILE.csv',
                    help='score every row of a CFPB export CSV (needs --out)')
  parser.add_argument('--out', metavar='FILE.csv',
                      help='with --complaints: Complaint ID,'
                      f'{OUTPUT_KEY},model_version rows')
  parser.add_argument('--batch-size', '--batch_size', dest='batch_size',
                      type=_positive, default=64,
                      help='with --complaints: rows per request (default: 64)')
  parser.add_argument('--request_log_prefix', '--request-log-prefix',
                      metavar='PREFIX',
                      help='with --complaints: also write each request and '
                      'response as a PredictionLog TFRecord (files beginning '
                      'with PREFIX), as a server with logging_config does; '
                      'for the real TF Serving, which cannot')
  parser.add_argument('--canary-share', '--canary_share', type=float,
                      metavar='SHARE',
                      help='with --complaints: an A/B test: send this share '
                      'of the complaints (0-1, by a hash of the Complaint '
                      'ID, so a complaint always meets the same version) to '
                      'the label canary and the rest to stable')
  parser.add_argument('--timeout', type=float, default=10.0,
                      help='seconds per request (default: 10)')
  args = parser.parse_args(argv)
  port = args.port or (8501 if args.protocol == 'rest' else 8500)
  if args.complaints is not None:
    return _main_bulk(args, port)
  if args.out or args.request_log_prefix or args.canary_share is not None:
    return _usage_error('--out, --request_log_prefix and --canary-share '
                        'need --complaints')
  try:
    complaint = _load_complaint(args.complaint)
  except UsageError as e:
    return _usage_error(str(e))
  try:
    client = _client_from_args(args, port)
    try:
      prediction = client.predict(complaint)
    finally:
      client.close()
  except (ClientError, OSError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(f'{prediction.model_name} v{prediction.model_version} over '
        f'{prediction.protocol}: P(disputed) = '
        f'{prediction.disputed_probability:.4f} '
        f'({prediction.latency_ms:.1f} ms)')
  print(json.dumps(dataclasses.asdict(prediction)))
  return 0


def _client_from_args(args, port: int):
  """The client the command line asks for (one complaint or a CSV)."""
  return make_client(args.protocol, host=args.host, port=port,
                     model_name=args.model_name, version=args.version,
                     label=args.label, timeout=args.timeout)


def _usage_error(message: str) -> int:
  print(f'error: {message}', file=sys.stderr)
  return 2


def _main_bulk(args, port: int) -> int:
  """--complaints: exit 0 if every row was scored, 1 if some failed, 2 for
  bad input; the last stdout line is the JSON summary."""
  if not args.out:
    return _usage_error('--complaints needs --out FILE.csv')
  out_dir = os.path.dirname(os.path.abspath(args.out))
  if not os.path.isdir(out_dir):
    return _usage_error(f'--out: directory {out_dir} does not exist')
  if os.path.isdir(args.out):
    return _usage_error(f'--out: {args.out} is a directory')
  try:
    ids, rows = read_complaints(args.complaints)
  except UsageError as e:
    return _usage_error(str(e))
  if args.canary_share is not None:
    if not 0.0 <= args.canary_share <= 1.0:
      return _usage_error('--canary-share must be between 0 and 1, not '
                          f'{args.canary_share}')
    if args.version is not None or args.label:
      return _usage_error('--canary-share sends to the labels stable and '
                          'canary: give no --version or --label')
  request_log = (ClientRequestLog(args.request_log_prefix)
                 if args.request_log_prefix else None)
  try:
    if args.canary_share is None:
      client = _client_from_args(args, port)
      try:
        summary = score_complaints(client, ids, rows, args.out,
                                   args.batch_size, Progress(len(rows)),
                                   request_log)
      finally:
        client.close()
    else:
      summary = _score_ab(args, port, ids, rows, request_log)
  except ClientError as e:
    return _usage_error(str(e))
  finally:
    if request_log is not None:
      files = request_log.close()
  if request_log is not None:
    summary['request_log_files'] = files
  if summary['failed']:
    print(f'error: {summary["failed"]} of {summary["rows"]} rows failed '
          f'({summary["failed_batches"]} batches); first: '
          f'{summary["errors"][0]}', file=sys.stderr)
  print(json.dumps(summary))
  return 1 if summary['failed'] else 0


def is_canary(complaint_id: str, share: float) -> bool:
  """Whether a complaint goes to the canary: a hash of its ID, so the split
  is the same on every run and a complaint always meets one version."""
  digest = hashlib.sha256(complaint_id.encode('utf-8')).digest()
  return int.from_bytes(digest[:4], 'big') < share * 2**32


def _score_ab(args, port: int, ids, rows, request_log) -> Dict[str, Any]:
  """Both arms of an A/B test, each to its label; one output file."""
  arms = {'stable': ([], []), 'canary': ([], [])}
  for complaint_id, row in zip(ids, rows):
    arm = arms['canary' if is_canary(complaint_id, args.canary_share)
               else 'stable']
    arm[0].append(complaint_id)
    arm[1].append(row)
  parts, summaries = [], {}
  progress = Progress(len(rows))
  try:
    for label, (arm_ids, arm_rows) in arms.items():
      if not arm_ids:
        continue
      client = make_client(args.protocol, host=args.host, port=port,
                           model_name=args.model_name, label=label,
                           timeout=args.timeout)
      part = f'{args.out}.{label}.part'
      parts.append(part)
      try:
        summaries[label] = score_complaints(client, arm_ids, arm_rows, part,
                                            args.batch_size, None,
                                            request_log)
      finally:
        client.close()
      progress.update(sum(s['sent'] + s['failed']
                          for s in summaries.values()),
                      sum(s['failed'] for s in summaries.values()))
    progress.close()
    temp = f'{args.out}.{os.getpid()}.tmp'
    with open(temp, 'w', newline='', encoding='utf-8') as out:
      for index, part in enumerate(parts):
        with open(part, newline='', encoding='utf-8') as f:
          header = f.readline()
          if index == 0:
            out.write(header)
          shutil.copyfileobj(f, out)
    os.replace(temp, args.out)
  finally:
    for part in parts:
      if os.path.exists(part):
        os.unlink(part)
  versions: Dict[str, int] = {}
  for found in summaries.values():
    for version, count in found['model_versions'].items():
      versions[version] = versions.get(version, 0) + count
  first = next(iter(summaries.values()))
  return {
      'sent': sum(s['sent'] for s in summaries.values()),
      'failed': sum(s['failed'] for s in summaries.values()),
      'rows': len(rows),
      'batches': sum(s['batches'] for s in summaries.values()),
      'failed_batches': sum(s['failed_batches'] for s in summaries.values()),
      'model_version': max(versions, key=versions.get) if versions else None,
      'model_versions': versions, 'model_name': first['model_name'],
      'protocol': first['protocol'], 'out': os.path.abspath(args.out),
      'errors': [e for s in summaries.values() for e in s['errors']][:5],
      'seconds': round(sum(s['seconds'] for s in summaries.values()), 3),
      'canary_share': args.canary_share,
      'labels': {label: {'rows': s['rows'], 'sent': s['sent'],
                         'model_versions': s['model_versions']}
                 for label, s in summaries.items()}}


if __name__ == '__main__':
  sys.exit(main())
