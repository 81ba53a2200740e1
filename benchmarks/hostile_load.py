"""A bounded hostile load on a real model server on loopback.

While clients send valid REST and gRPC requests, other clients send
malformed, oversized and slow ones, model versions are swapped every
`swap_seconds` and the config is reloaded (a second model added and
removed). What it measures, and what tests/serving/test_hostile_load.py
asserts: zero failed valid requests, every bad request answered with a 4xx
or a gRPC error (or, for slow connections, closed by the server), the
server's thread count within a stated bound, its RSS growth, p99 latency of
the valid requests, and a healthy server afterwards.

  python -m benchmarks.hostile_load --seconds 60 \\
      --out benchmarks/results/hostile_load.json

The server runs in this process (the only way to count its threads); the
load generator's threads are counted apart.
"""

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from typing import Dict, List

import serving  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)

from benchmarks import result_file

# Server bounds used by the run (small, so that they are reached).
REST_CONNECTIONS = 32  # --rest_api_max_connections
REST_THREADS = 8  # --rest_api_num_threads: the REST calls that block.
GRPC_THREADS = 8
IDLE_TIMEOUT_MS = 1000
MAX_BODY = 100_000
MAX_ELEMENTS = 10_000
# Threads the server may add besides its REST and gRPC worker threads: the
# event loop, grpc.aio's poller, the file-system poller, batch threads.
# Connections cost none.
SERVER_HELPER_THREADS = 12


def _percentile(values: List[float], q: float) -> float:
  if not values:
    return 0.0
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Tally:
  """Thread-safe counters and latency samples."""

  def __init__(self):
    self.lock = threading.Lock()
    self.counts = collections.Counter()
    self.latencies: List[float] = []
    self.failures: List[str] = []

  def count(self, key: str, latency_ms: float = None) -> None:
    with self.lock:
      self.counts[key] += 1
      if latency_ms is not None:
        self.latencies.append(latency_ms)

  def fail(self, what: str) -> None:
    with self.lock:
      self.failures.append(what)
      self.counts['failed'] += 1


def _deploy(version_dir: str, base: str, version: int) -> None:
  staging = os.path.join(base, f'.staging-{version}')
  shutil.copytree(version_dir, staging)
  os.rename(staging, os.path.join(base, str(version)))


def _raw(port: int, data: bytes, shut: bool = True) -> bytes:
  with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
    try:
      sock.sendall(data)
      if shut:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
      pass
    chunks = []
    while True:
      try:
        chunk = sock.recv(65536)
      except (ConnectionResetError, socket.timeout):
        break
      if not chunk:
        break
      chunks.append(chunk)
  return b''.join(chunks)


def _code(response: bytes) -> int:
  try:
    return int(response.split(b' ', 2)[1])
  except (IndexError, ValueError):
    return 0


_MALFORMED = [
    b'{"instances": [1.0',
    b'\xff\xfe',
    b'{"instances": [' + b'1' * 5000 + b']}',
    b'{"instances": ["a"]}',
    b'{"inputs": {"z": [1.0]}}',
    b'[' * 5000,
    b'',
]


def run(seconds: float = 15.0, swap_seconds: float = 1.5,
        workdir: str = None) -> Dict[str, object]:
  """Runs the hostile load; returns the figures (see the module doc)."""
  import grpc  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import psutil  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.framework import tensor_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.framework import types_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import model_management_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import model_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  from serving import example_models  # pylint: disable=g-import-not-at-top
  from serving import model_server  # pylint: disable=g-import-not-at-top
  from serving import server_config  # pylint: disable=g-import-not-at-top

  own_dir = workdir is None
  workdir = workdir or tempfile.mkdtemp(prefix='hostile_load_')
  built = {2.0: example_models.write_half_plus_two(
      os.path.join(workdir, 'built_a'), 1, b=2.0, warmup=True),
           3.0: example_models.write_half_plus_two(
               os.path.join(workdir, 'built_b'), 1, b=3.0, warmup=True)}
  base = os.path.join(workdir, 'hpt')
  other = os.path.join(workdir, 'other')
  os.makedirs(base)
  _deploy(built[2.0], base, 1)
  _deploy(built[3.0], other, 1)
  config_path = os.path.join(workdir, 'models.config')
  configs = [[{'name': 'hpt', 'base_path': base}],
             [{'name': 'hpt', 'base_path': base},
              {'name': 'other', 'base_path': other}]]
  server_config.write_model_server_config(config_path, configs[0])

  process = psutil.Process()
  threads_before = threading.active_count()
  rss_before = process.memory_info().rss
  options = server_config.ServerOptions(
      port=_free_port(), rest_api_port=_free_port(),
      bind_address='127.0.0.1', model_config_file=config_path,
      file_system_poll_wait_seconds=1, rest_api_num_threads=REST_THREADS,
      rest_api_max_connections=REST_CONNECTIONS,
      rest_api_idle_timeout_in_ms=IDLE_TIMEOUT_MS,
      rest_api_max_body_bytes=MAX_BODY, max_tensor_elements=MAX_ELEMENTS,
      grpc_max_threads=GRPC_THREADS)
  server = model_server.ModelServer(options).start()
  rest, grpc_port = server.rest_port, server.grpc_port
  threads_loaded = threading.active_count()
  rss_loaded = process.memory_info().rss

  stop = threading.Event()
  tally = _Tally()
  peaks = {'threads': threads_loaded, 'rss': rss_loaded}
  valid_outputs = {0.5 * 1.0 + b for b in built}
  channel = grpc.insecure_channel(f'127.0.0.1:{grpc_port}')
  stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
  model_stub = model_service_pb2_grpc.ModelServiceStub(channel)

  def valid_rest():
    conn = http.client.HTTPConnection('127.0.0.1', rest, timeout=30)
    body = json.dumps({'instances': [1.0]})
    while not stop.is_set():
      start = time.perf_counter()
      try:
        conn.request('POST', '/v1/models/hpt:predict', body=body)
        response = conn.getresponse()
        payload = json.loads(response.read())
        latency = (time.perf_counter() - start) * 1e3
        if (response.status != 200 or
            payload['predictions'][0] not in valid_outputs):
          tally.fail(f'REST {response.status} {payload}')
        else:
          tally.count('valid_rest', latency)
      except (OSError, http.client.HTTPException, ValueError) as e:
        # The connection is never idle, so the server has no reason to
        # close it: any error here is a failed valid request.
        tally.fail(f'REST {type(e).__name__}: {e}')
        conn.close()
        conn = http.client.HTTPConnection('127.0.0.1', rest, timeout=30)
    conn.close()

  def valid_grpc():
    request = predict_pb2.PredictRequest()
    request.model_spec.name = 'hpt'
    request.inputs['x'].CopyFrom(tf.make_tensor_proto(
        np.array([1.0], np.float32)))
    while not stop.is_set():
      start = time.perf_counter()
      try:
        response = stub.Predict(request, timeout=30)
        latency = (time.perf_counter() - start) * 1e3
        if list(response.outputs['y'].float_val)[0] not in valid_outputs:
          tally.fail(f'gRPC output {response.outputs["y"]}')
        else:
          tally.count('valid_grpc', latency)
      except grpc.RpcError as e:
        tally.fail(f'gRPC {e.code().name}: {e.details()}')

  def bad_requests():
    rng = random.Random(0)
    head = (b'POST /v1/models/hpt:predict HTTP/1.1\r\nHost: x\r\n')
    huge = predict_pb2.PredictRequest()
    huge.model_spec.name = 'hpt'
    huge.inputs['x'].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT))
    huge.inputs['x'].tensor_shape.dim.add().size = 20_000_000
    while not stop.is_set():
      kind = rng.choice(['malformed', 'oversized_body', 'chunked_bypass',
                         'oversized_tensor_grpc', 'oversized_json'])
      if kind == 'oversized_tensor_grpc':
        try:
          stub.Predict(huge, timeout=30)
          tally.fail('huge gRPC tensor was served')
        except grpc.RpcError as e:
          tally.count(f'{kind}:{e.code().name}')
        continue
      if kind == 'malformed':
        body = rng.choice(_MALFORMED)
        data = head + b'Content-Length: %d\r\n\r\n%s' % (len(body), body)
      elif kind == 'oversized_body':
        data = head + b'Content-Length: 1000000000\r\n\r\n{"instances": ['
      elif kind == 'chunked_bypass':
        data = head + b'Transfer-Encoding: chunked\r\n\r\n-1\r\n' + (
            b' ' * 200_000)
      else:
        body = json.dumps({'instances': [1.0] * (MAX_ELEMENTS + 1)}).encode()
        data = head + b'Content-Length: %d\r\n\r\n%s' % (len(body), body)
      code = _code(_raw(rest, data))
      tally.count(f'{kind}:{code}')
      if not 400 <= code < 500:
        tally.fail(f'{kind} answered {code}')

  def slow_clients():
    while not stop.is_set():
      sockets = []
      for _ in range(8):
        try:
          sock = socket.create_connection(('127.0.0.1', rest), timeout=10)
          sock.sendall(b'POST /v1/models/hpt:predict HTTP/1.1\r\nHost:')
          sockets.append(sock)
        except OSError:
          pass
      for sock in sockets:
        start = time.monotonic()
        try:
          leftover = sock.recv(65536)  # Waits for the idle timeout.
        except (socket.timeout, ConnectionResetError):
          leftover = b'timeout'
        waited = time.monotonic() - start
        if leftover == b'' or _code(leftover) in (408, 503):
          tally.count('slow_closed_by_server')
        else:
          tally.fail(f'slow client got {leftover[:60]!r} after {waited:.1f}s')
        sock.close()

  def swapper():
    version = 1
    config_index = 0
    while not stop.wait(swap_seconds):
      version += 1
      _deploy(built[2.0 if version % 2 else 3.0], base, version)
      tally.count('version_swaps')
      config_index = 1 - config_index
      request = model_management_pb2.ReloadConfigRequest()
      request.config.CopyFrom(_config_proto(configs[config_index]))
      try:
        model_stub.HandleReloadConfigRequest(request, timeout=60)
        tally.count('config_reloads')
      except grpc.RpcError as e:
        tally.fail(f'reload {e.code().name}: {e.details()}')

  def monitor():
    while not stop.wait(0.1):
      peaks['threads'] = max(peaks['threads'], threading.active_count())
      peaks['rss'] = max(peaks['rss'], process.memory_info().rss)

  def _config_proto(models):
    path = os.path.join(workdir, 'reload.config')
    server_config.write_model_server_config(path, models)
    return server_config.read_model_server_config(path)

  workers = ([valid_rest] * 4 + [valid_grpc] * 2 + [bad_requests] * 2 +
             [slow_clients, swapper, monitor])
  threads = [threading.Thread(target=w, daemon=True, name=f'load-{i}')
             for i, w in enumerate(workers)]
  client_threads = len(threads)
  start = time.monotonic()
  for thread in threads:
    thread.start()
  time.sleep(seconds)
  stop.set()
  for thread in threads:
    thread.join(timeout=30)
  elapsed = time.monotonic() - start

  # Health afterwards, and the threads left once idle connections close.
  status_code = http.client.HTTPConnection('127.0.0.1', rest, timeout=10)
  status_code.request('GET', '/v1/models/hpt')
  healthy = status_code.getresponse().status == 200
  status_code.close()
  time.sleep(IDLE_TIMEOUT_MS / 1000 + 1)
  threads_after = threading.active_count()
  channel.close()
  server.stop()
  if own_dir:
    shutil.rmtree(workdir, ignore_errors=True)

  valid = tally.latencies
  thread_bound = (threads_before + REST_THREADS + GRPC_THREADS +
                  SERVER_HELPER_THREADS + client_threads)
  counts = dict(sorted(tally.counts.items()))
  return {
      'seconds': round(elapsed, 1),
      'requests': sum(v for k, v in counts.items()
                      if k not in ('version_swaps', 'config_reloads')),
      'valid_requests': counts.get('valid_rest', 0) + counts.get(
          'valid_grpc', 0),
      'failed': counts.get('failed', 0),
      'failures': tally.failures[:10],
      'counts': counts,
      'valid_p50_ms': round(_percentile(valid, 0.5), 2),
      'valid_p99_ms': round(_percentile(valid, 0.99), 2),
      'threads': {'before_server': threads_before, 'loaded': threads_loaded,
                  'peak': peaks['threads'], 'after_idle': threads_after,
                  'load_generator': client_threads, 'bound': thread_bound},
      'os_threads_peak_note': 'TensorFlow and gRPC core threads are native '
                              'and not counted above',
      'rss_mb': {'before_server': round(rss_before / 2**20, 1),
                 'loaded': round(rss_loaded / 2**20, 1),
                 'peak': round(peaks['rss'] / 2**20, 1)},
      'healthy_after': healthy,
      'server_bounds': {'rest_api_num_threads': REST_THREADS,
                        'rest_api_max_connections': REST_CONNECTIONS,
                        'grpc_max_threads': GRPC_THREADS,
                        'rest_api_idle_timeout_in_ms': IDLE_TIMEOUT_MS,
                        'rest_api_max_body_bytes': MAX_BODY,
                        'max_tensor_elements': MAX_ELEMENTS},
  }


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--seconds', type=float, default=60.0)
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  figures = run(seconds=args.seconds)
  text = json.dumps(figures, indent=2)
  print(text)
  if args.out:
    result_file.write(args.out, figures)


if __name__ == '__main__':
  main()
