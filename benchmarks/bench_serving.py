"""Latency, throughput and memory of the model server vs. in-process calls.

`python -m benchmarks.bench_serving` (`make bench-serving`) starts
`python -m serving.model_server` as a separate process (batching off, then
on) and measures p50/p99 latency and throughput over REST (`predict_raw`,
row format) and gRPC (`serving_default`, serialized tf.Examples) at
concurrency 1, 8 and 32 with 1 and 32 complaints per request, next to the
same signatures called in-process (the lower bound). Load comes from
separate client processes so the load generator does not share the server's
GIL. A soak run then samples the server's RSS. Results go to
benchmarks/results/serving.json.

By default the model is a contract-shaped stand-in built on the fly
(serving/example_models.py); `--serving_dir/--model_name` benchmarks a model
the pipeline pushed instead.
"""

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'serving.json')
CONCURRENCY = (1, 8, 32)
BATCH_SIZES = (1, 32)
# batch_timeout_micros 0: a batch closes as soon as a batch thread is free,
# so a lone request waits for nobody and batches grow with the load.
BATCHING_CONFIG = ('max_batch_size { value: 256 }\n'
                   'batch_timeout_micros { value: 0 }\n'
                   'max_enqueued_batches { value: 1000 }\n'
                   'num_batch_threads { value: 2 }\n')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _percentiles(latencies: List[float]) -> Dict[str, float]:
  ordered = sorted(latencies)
  pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
  return {'p50_ms': round(pick(0.50) * 1e3, 3),
          'p99_ms': round(pick(0.99) * 1e3, 3), 'requests': len(ordered)}


def _rows(batch: int):
  from components import features  # pylint: disable=g-import-not-at-top
  from serving import client, example_models  # pylint: disable=g-import-not-at-top
  rows = [client.to_features(c)
          for c in example_models.sample_complaints(batch, seed=batch)]
  return rows, features


# ---- load generator (runs in child processes) -------------------------------
#
# Children import neither TensorFlow nor the serving package: requests are
# built once in the parent (JSON body / serialized PredictRequest) and sent
# as bytes, so the load generator costs little CPU on the 2 shared cores and
# no child is still starting up while the others measure.


def _payloads(model: str, batch: int) -> Dict[str, bytes]:
  from serving import client  # pylint: disable=g-import-not-at-top
  rows, _ = _rows(batch)
  rest = json.dumps({'signature_name': client.RAW_SIGNATURE,
                     'instances': rows}).encode()
  request = client.GrpcClient('127.0.0.1', 1, model)._request(rows)  # pylint: disable=protected-access
  return {'rest': rest, 'grpc': request.SerializeToString()}


def _client_worker(protocol, port, model, payload, threads, duration, ready,
                   go, queue):
  import threading  # pylint: disable=g-import-not-at-top
  latencies, errors = [], []
  deadline = [0.0]

  def rest_loop():
    # A minimal HTTP/1.1 keep-alive client on a raw socket (http.client
    # costs about 1 ms of CPU per request).
    request = (f'POST /v1/models/{model}:predict HTTP/1.1\r\n'
               f'Host: 127.0.0.1:{port}\r\nContent-Type: application/json'
               f'\r\nContent-Length: {len(payload)}\r\n\r\n').encode() + payload
    sock = socket.create_connection(('127.0.0.1', port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile('rb')
    started.wait()
    while time.perf_counter() < deadline[0]:
      start = time.perf_counter()
      sock.sendall(request)
      status_line = reader.readline()
      length = 0
      while True:
        line = reader.readline()
        if line in (b'\r\n', b''):
          break
        if line[:15].lower() == b'content-length:':
          length = int(line[15:])
      data = reader.read(length)
      if b' 200 ' not in status_line:
        errors.append(data[:200])
        continue
      latencies.append(time.perf_counter() - start)
    sock.close()

  def grpc_loop():
    import grpc  # pylint: disable=g-import-not-at-top
    channel = grpc.insecure_channel(f'127.0.0.1:{port}')
    predict = channel.unary_unary(
        '/tensorflow.serving.PredictionService/Predict')  # bytes in/out
    predict(payload, timeout=60)
    started.wait()
    while time.perf_counter() < deadline[0]:
      start = time.perf_counter()
      try:
        predict(payload, timeout=60)
      except Exception as e:  # pylint: disable=broad-except
        errors.append(repr(e)[:200])
        continue
      latencies.append(time.perf_counter() - start)
    channel.close()

  started = threading.Event()
  target = rest_loop if protocol == 'rest' else grpc_loop
  workers = [threading.Thread(target=target) for _ in range(threads)]
  for w in workers:
    w.start()
  ready.put(1)
  go.wait()
  deadline[0] = time.perf_counter() + duration
  started.set()
  for w in workers:
    w.join()
  queue.put((latencies, errors))


def _run_children(specs, duration, on_wait=None):
  """Starts one client process per spec, releases them together, collects."""
  ctx = multiprocessing.get_context('spawn')
  ready, go, queue = ctx.Queue(), ctx.Event(), ctx.Queue()
  children = [ctx.Process(target=_client_worker,
                          args=spec + (duration, ready, go, queue))
              for spec in specs]
  for child in children:
    child.start()
  for _ in children:
    ready.get(timeout=120)
  go.set()
  parts = []
  while len(parts) < len(children):
    if on_wait is not None:
      on_wait()
    try:
      parts.append(queue.get(timeout=1.0))
    except Exception:  # pylint: disable=broad-except  (queue.Empty)
      pass
  for child in children:
    child.join()
  latencies = [x for part, _ in parts for x in part]
  errors = [e for _, errs in parts for e in errs]
  return latencies, errors


def run_load(protocol, port, model, payload, batch, concurrency, duration):
  processes = min(concurrency, 4)
  split = [concurrency // processes + (i < concurrency % processes)
           for i in range(processes)]
  latencies, errors = _run_children(
      [(protocol, port, model, payload, n) for n in split], duration)
  stats = _percentiles(latencies)
  stats['throughput_rps'] = round(len(latencies) / duration, 1)
  stats['throughput_complaints_per_s'] = round(
      stats['throughput_rps'] * batch, 1)
  stats['errors'] = len(errors)
  if errors:
    stats['first_error'] = str(errors[0])
  return stats


# ---- in-process lower bound -------------------------------------------------


def in_process(version_dir: str, iterations: int) -> Dict[str, dict]:
  import serving  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from serving import example_models, servable  # pylint: disable=g-import-not-at-top
  model = servable.Servable('bench', 1, version_dir)
  model.load()
  loaded = tf.saved_model.load(version_dir)
  results = {}
  for batch in BATCH_SIZES:
    rows, _ = _rows(batch)
    raw = {k: np.array([r[k].encode() for r in rows], dtype=object)
           for k in rows[0]}
    examples = np.array([example_models.raw_example(r).SerializeToString()
                         for r in rows], dtype=object)
    calls = {
        'predict_raw_server_path': lambda: model.predict('predict_raw', raw),
        'serving_default_server_path': lambda: model.predict(
            'serving_default', {'examples': examples}),
        'predict_raw_tf_signature_call': lambda: loaded.signatures[
            'predict_raw'](**{k: tf.constant(v) for k, v in raw.items()}),
    }
    for name, call in calls.items():
      for _ in range(20):
        call()
      latencies = []
      for _ in range(iterations):
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)
      results[f'{name}/batch_{batch}'] = _percentiles(latencies)
  return results


def paired_overhead(version_dir: str, server, model: str, rounds: int,
                    calls: int) -> Dict[str, dict]:
  """Server p50 minus in-process p50 at concurrency 1, measured in
  alternating rounds so that drift in the (shared) machine's speed cancels.

  REST is compared with the `predict_raw` signature called in-process, gRPC
  with `serving_default` on the same serialized tf.Example.
  """
  import http.client  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from serving import client, example_models, servable  # pylint: disable=g-import-not-at-top
  model_obj = servable.Servable('bench', 1, version_dir)
  model_obj.load()
  rows, _ = _rows(1)
  raw = {k: np.array([r[k].encode() for r in rows], dtype=object)
         for k in rows[0]}
  examples = np.array([example_models.raw_example(r).SerializeToString()
                       for r in rows], dtype=object)
  body = json.dumps({'signature_name': client.RAW_SIGNATURE,
                     'instances': rows}).encode()
  conn = http.client.HTTPConnection('127.0.0.1', server.rest_port)
  grpc_client = client.GrpcClient('127.0.0.1', server.grpc_port, model)
  request = grpc_client._request(rows)  # pylint: disable=protected-access

  def rest():
    conn.request('POST', f'/v1/models/{model}:predict', body,
                 {'Content-Type': 'application/json'})
    conn.getresponse().read()

  pairs = {
      'rest': (lambda: model_obj.predict('predict_raw', raw), rest),
      'grpc': (lambda: model_obj.predict('serving_default',
                                         {'examples': examples}),
               lambda: grpc_client._stub.Predict(request)),  # pylint: disable=protected-access
  }

  def p50(fn):
    for _ in range(20):
      fn()
    times = []
    for _ in range(calls):
      start = time.perf_counter()
      fn()
      times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3

  results = {}
  for protocol, (local, remote) in pairs.items():
    local_p50, remote_p50 = [], []
    for _ in range(rounds):
      local_p50.append(p50(local))
      remote_p50.append(p50(remote))
    diffs = [r - l for r, l in zip(remote_p50, local_p50)]
    results[protocol] = {
        'overhead_p50_ms': round(statistics.median(diffs), 3),
        'in_process_p50_ms': round(statistics.median(local_p50), 3),
        'server_p50_ms': round(statistics.median(remote_p50), 3),
        'rounds_overhead_ms': [round(d, 3) for d in diffs]}
  conn.close()
  grpc_client.close()
  return results


# ---- server process ------------------------------------------------------------


class ServerProcess:
  def __init__(self, base_path, model, batching: bool, workdir: str):
    self.grpc_port, self.rest_port = _free_port(), _free_port()
    args = [sys.executable, '-m', 'serving.model_server',
            f'--port={self.grpc_port}', f'--rest_api_port={self.rest_port}',
            f'--model_name={model}', f'--model_base_path={base_path}',
            '--bind_address=127.0.0.1', '--file_system_poll_wait_seconds=0']
    if batching:
      path = os.path.join(workdir, 'batching.config')
      with open(path, 'w', encoding='utf-8') as f:
        f.write(BATCHING_CONFIG)
      args += ['--enable_batching', f'--batching_parameters_file={path}']
    self.log = open(os.path.join(workdir, f'server_{batching}.log'), 'w')
    self.process = subprocess.Popen(args, stdout=self.log,
                                    stderr=subprocess.STDOUT)
    self.model = model
    self._wait_ready()

  def _wait_ready(self):
    import http.client  # pylint: disable=g-import-not-at-top
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
      if self.process.poll() is not None:
        raise RuntimeError(f'server exited; see {self.log.name}')
      try:
        conn = http.client.HTTPConnection('127.0.0.1', self.rest_port,
                                          timeout=2)
        conn.request('GET', f'/v1/models/{self.model}')
        if conn.getresponse().status == 200:
          return
      except OSError:
        pass
      time.sleep(0.5)
    raise RuntimeError('server did not become ready')

  def rss_mb(self) -> float:
    import psutil  # pylint: disable=g-import-not-at-top
    return psutil.Process(self.process.pid).memory_info().rss / 2**20

  def stop(self):
    self.process.terminate()
    try:
      self.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    self.log.close()


def soak(server: ServerProcess, seconds: float, model: str,
         payloads: Dict[str, bytes]) -> dict:
  """Mixed REST+gRPC load at concurrency 8; RSS sampled every second."""
  samples = []
  begin = time.monotonic()

  def sample():
    samples.append((round(time.monotonic() - begin, 1),
                    round(server.rss_mb(), 1)))

  latencies, errors = _run_children(
      [('rest', server.rest_port, model, payloads['rest'], 4),
       ('grpc', server.grpc_port, model, payloads['grpc'], 4)], seconds,
      on_wait=sample)
  rss = [m for _, m in samples]
  tail = rss[len(rss) // 5:] or rss  # After warm-up.
  minutes = max((len(tail) - 1) / 60.0, 1e-9)
  return {'seconds': seconds, 'requests': len(latencies),
          'errors': len(errors), 'rss_mb_start': rss[0],
          'rss_mb_end': rss[-1], 'rss_mb_max': max(rss),
          'rss_growth_mb_per_min_after_warmup': round(
              (tail[-1] - tail[0]) / minutes, 2),
          'samples': samples[::max(1, len(samples) // 60)]}


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_serving',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--duration', type=float, default=3.0,
                      help='seconds per load configuration (default: 3)')
  parser.add_argument('--soak_seconds', type=float, default=20.0,
                      help='memory soak duration (default: 20; 300 for the '
                           'full run)')
  parser.add_argument('--iterations', type=int, default=300,
                      help='calls per in-process / overhead measurement')
  parser.add_argument('--rounds', type=int, default=7,
                      help='alternating rounds of the overhead measurement')
  parser.add_argument('--serving_dir', help='benchmark a pushed model instead')
  parser.add_argument('--model_name', default='complaints')
  parser.add_argument('--output', default=RESULTS)
  args = parser.parse_args(argv)

  workdir = tempfile.mkdtemp(prefix='bench_serving_')
  try:
    if args.serving_dir:
      base = os.path.abspath(os.path.join(args.serving_dir, args.model_name))
      model_kind = 'pushed pipeline model'
    else:
      from serving import example_models  # pylint: disable=g-import-not-at-top
      base = os.path.join(workdir, args.model_name)
      example_models.write_complaint_model(base, 1)
      model_kind = 'contract-shaped stand-in (serving/example_models.py)'
    version = max((d for d in os.listdir(base) if d.isdigit()), key=int)
    print(f'model: {base}/{version} ({model_kind})', flush=True)
    results = {
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                    'platform': platform.platform()},
        'model': model_kind, 'duration_s_per_config': args.duration,
        'in_process': in_process(os.path.join(base, version), args.iterations),
        'server': {},
    }
    for name, stats in results['in_process'].items():
      print(f'in-process {name:42s} p50 {stats["p50_ms"]:7.3f} ms  '
            f'p99 {stats["p99_ms"]:7.3f} ms', flush=True)
    payloads = {b: _payloads(args.model_name, b) for b in BATCH_SIZES}
    for batching in (False, True):
      label = 'batching_on' if batching else 'batching_off'
      server = ServerProcess(base, args.model_name, batching, workdir)
      try:
        if not batching:
          results['overhead_concurrency_1'] = paired_overhead(
              os.path.join(base, version), server, args.model_name,
              args.rounds, args.iterations)
          print('overhead at concurrency 1:',
                {k: v['overhead_p50_ms'] for k, v in
                 results['overhead_concurrency_1'].items()}, flush=True)
        for protocol in ('rest', 'grpc'):
          port = server.rest_port if protocol == 'rest' else server.grpc_port
          for batch in BATCH_SIZES:
            for concurrency in CONCURRENCY:
              key = f'{label}/{protocol}/batch_{batch}/concurrency_{concurrency}'
              stats = run_load(protocol, port, args.model_name,
                               payloads[batch][protocol], batch, concurrency,
                               args.duration)
              results['server'][key] = stats
              print(f'{key:45s} p50 {stats["p50_ms"]:8.3f} ms  p99 '
                    f'{stats["p99_ms"]:8.3f} ms  {stats["throughput_rps"]:8.1f}'
                    f' req/s  errors {stats["errors"]}', flush=True)
        if batching:
          results['soak'] = soak(server, args.soak_seconds, args.model_name,
                                 payloads[1])
          print('soak:', {k: v for k, v in results['soak'].items()
                          if k != 'samples'}, flush=True)
      finally:
        server.stop()
    results['summary'] = summarize(results)
    print(json.dumps(results['summary'], indent=2))
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2)
    print(f'written to {args.output}')
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  return 0


def summarize(results) -> dict:
  server = results['server']
  overhead = results['overhead_concurrency_1']
  summary = {
      'rest_overhead_p50_ms_concurrency_1': overhead['rest'][
          'overhead_p50_ms'],
      'grpc_overhead_p50_ms_concurrency_1': overhead['grpc'][
          'overhead_p50_ms'],
  }
  for protocol in ('rest', 'grpc'):
    for batch in BATCH_SIZES:
      off = server[f'batching_off/{protocol}/batch_{batch}/concurrency_32']
      on = server[f'batching_on/{protocol}/batch_{batch}/concurrency_32']
      summary[f'{protocol}_batch_{batch}_c32_batching_speedup'] = round(
          on['throughput_rps'] / max(off['throughput_rps'], 1e-9), 2)
  if 'soak' in results:
    summary['soak_rss_growth_mb_per_min'] = results['soak'][
        'rss_growth_mb_per_min_after_warmup']
  return summary


if __name__ == '__main__':
  sys.exit(main())
