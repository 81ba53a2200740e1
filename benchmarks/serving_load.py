"""The serving benchmark's server process and its two load generators.

The server runs as `python -m serving.model_server` in a child process; the
load comes from C programs that cost the two shared cores little per
request, so that what is measured is the server: Debian's `wrk` (epoll, one
thread) for REST, with benchmarks/wrk/post_bodies.lua cycling through real
request bodies, and Debian's `h2load` (nghttp2-client; one HTTP/2
connection, N streams in flight) for gRPC. h2load sees HTTP statuses, not
gRPC ones (those travel in trailers), so a gRPC run's errors are the calls
it completed minus the calls the server counted OK on its Prometheus page
(`:tensorflow:serving:request_count`). Each run reports the CPU the load
generator took next to the server's.

Install both with `apt-get install -y wrk nghttp2-client` (Debian).
"""

import http.client
import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import psutil

from serving import child_server

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_SCRIPT = os.path.join(HERE, 'wrk', 'post_bodies.lua')
# batch_timeout_micros 0: a batch closes as soon as a batch thread is free,
# so a lone request waits for nobody and batches grow with the load.
BATCHING_CONFIG = ('max_batch_size { value: 256 }\n'
                   'batch_timeout_micros { value: 0 }\n'
                   'max_enqueued_batches { value: 1000 }\n'
                   'num_batch_threads { value: 2 }\n')


class LoadError(RuntimeError):
  """A load generator is missing or failed; the message says what to do."""


def _tool(name: str) -> str:
  path = shutil.which(name)
  if path is None:
    raise LoadError(f'{name} is not installed; install it with `apt-get '
                    'install -y wrk nghttp2-client` (Debian) and rerun')
  return path


def check_tools() -> None:
  _tool('wrk')
  _tool('h2load')


def check_wrk() -> str:
  return _tool('wrk')


MONITORING_CONFIG = ('prometheus_config { enable: true, '
                     'path: "/monitoring/prometheus/metrics" }\n')
_OK_COUNT = re.compile(
    r'^:tensorflow:serving:request_count\{model_name="([^"]*)",'
    r'status="OK"\} (\d+)$', re.M)


class ServerProcess:
  """`python -m serving.model_server` on free loopback ports."""

  def __init__(self, base_path: str, model: str, batching: bool,
               workdir: str, extra_flags: Optional[List[str]] = None,
               name: Optional[str] = None):
    self.grpc_port = child_server.free_port()
    self.rest_port = child_server.free_port()
    self.model = model
    args = [sys.executable, '-m', 'serving.model_server',
            f'--port={self.grpc_port}', f'--rest_api_port={self.rest_port}',
            f'--model_name={model}', f'--model_base_path={base_path}',
            '--bind_address=127.0.0.1', '--file_system_poll_wait_seconds=0']
    if batching:
      path = os.path.join(workdir, 'batching.config')
      with open(path, 'w', encoding='utf-8') as f:
        f.write(BATCHING_CONFIG)
      args += ['--enable_batching', f'--batching_parameters_file={path}']
    monitoring = os.path.join(workdir, 'monitoring.config')
    with open(monitoring, 'w', encoding='utf-8') as f:
      f.write(MONITORING_CONFIG)
    args.append(f'--monitoring_config_file={monitoring}')
    args += list(extra_flags or [])
    self.log_path = os.path.join(
        workdir, f'server_{name or f"batching_{batching}"}.log')
    self._log = open(self.log_path, 'w', encoding='utf-8')
    self.process = subprocess.Popen(args, stdout=self._log,
                                    stderr=subprocess.STDOUT)
    self._ps = psutil.Process(self.process.pid)
    self._wait_ready()

  def _wait_ready(self) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
      if self.process.poll() is not None:
        raise LoadError(f'the model server exited; see {self.log_path}')
      try:
        conn = http.client.HTTPConnection('127.0.0.1', self.rest_port,
                                          timeout=2)
        conn.request('GET', f'/v1/models/{self.model}')
        if conn.getresponse().status == 200:
          return
      except OSError:
        pass
      time.sleep(0.5)
    raise LoadError(f'the model server did not become ready; see '
                    f'{self.log_path}')

  def cpu_seconds(self) -> float:
    times = self._ps.cpu_times()
    return times.user + times.system

  def rss_mb(self) -> float:
    return self._ps.memory_info().rss / 2**20

  def threads(self) -> int:
    """The server's OS threads (Python's and TensorFlow's and gRPC's)."""
    return self._ps.num_threads()

  def open_files(self) -> int:
    return self._ps.num_fds()

  def ok_count(self) -> int:
    """Calls the server counted OK (Prometheus request_count)."""
    conn = http.client.HTTPConnection('127.0.0.1', self.rest_port, timeout=30)
    try:
      conn.request('GET', '/monitoring/prometheus/metrics')
      text = conn.getresponse().read().decode('utf-8')
    finally:
      conn.close()
    return sum(int(n) for name, n in _OK_COUNT.findall(text)
               if name == self.model)

  def stop(self) -> None:
    self.process.terminate()
    try:
      self.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    self._log.close()


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _with_cpu(stats: dict, server_cpu: float, server_window: float,
              requests_total: int, load_cpu: float,
              load_window: float) -> dict:
  """Adds CPU figures: percent of one core, and server ms per request."""
  stats['server_cpu_percent'] = round(100 * server_cpu / server_window, 1)
  stats['server_cpu_ms_per_request'] = round(
      1e3 * server_cpu / max(requests_total, 1), 3)
  stats['load_generator_cpu_percent'] = round(100 * load_cpu / load_window,
                                              1)
  return stats


def run_wrk(server: ServerProcess, bodies_path: Optional[str],
            concurrency: int, seconds: int) -> Dict[str, object]:
  """wrk at `concurrency` keep-alive connections for `seconds` seconds.

  With `bodies_path`, POSTs its bodies to :predict; with None, GETs the
  model's status (the REST transport with no model call).
  """
  wrk = check_wrk()
  url = f'http://127.0.0.1:{server.rest_port}/v1/models/{server.model}'
  if bodies_path:
    url += ':predict'
  env = dict(os.environ, WRK_BODIES=bodies_path or '')
  cpu_before, server_before = _children_cpu(), server.cpu_seconds()
  started = time.perf_counter()
  done = subprocess.run(
      [wrk, '-t1', f'-c{concurrency}', f'-d{int(seconds)}s', '--timeout',
       '30s', '-s', WRK_SCRIPT, url], env=env, capture_output=True,
      text=True, check=False)
  wall = time.perf_counter() - started
  server_cpu = server.cpu_seconds() - server_before
  line = next((l for l in done.stdout.splitlines()
               if l.startswith('WRK_JSON ')), None)
  if done.returncode != 0 or line is None:
    raise LoadError(f'wrk failed (exit {done.returncode}): '
                    f'{(done.stderr or done.stdout).strip()[:300]}')
  raw = json.loads(line[len('WRK_JSON '):])
  duration = raw['duration_us'] / 1e6
  errors = sum(v for k, v in raw.items() if k.startswith('errors_'))
  stats = {
      'requests': raw['requests'], 'errors': errors,
      'seconds': round(duration, 3),
      'throughput_rps': round(raw['requests'] / duration, 1),
      'p50_ms': raw['p50_us'] / 1e3, 'p99_ms': raw['p99_us'] / 1e3,
  }
  return _with_cpu(stats, server_cpu, wall, raw['requests'],
                   _children_cpu() - cpu_before, wall)


STATUS_METHOD = '/tensorflow.serving.ModelService/GetModelStatus'
PREDICT_METHOD = '/tensorflow.serving.PredictionService/Predict'


def write_grpc_message(path: str, message: bytes) -> None:
  """A gRPC request body: uncompressed flag, 4-byte length, message."""
  with open(path, 'wb') as f:
    f.write(b'\x00' + struct.pack('>I', len(message)) + message)


def _h2load_counts(stdout: str) -> Dict[str, int]:
  match = re.search(r'requests: (\d+) total, (\d+) started, (\d+) done, '
                    r'(\d+) succeeded, (\d+) failed, (\d+) errored, '
                    r'(\d+) timeout', stdout)
  if match is None:
    raise LoadError(f'unexpected h2load output: {stdout.strip()[-300:]}')
  names = ('total', 'started', 'done', 'succeeded', 'failed', 'errored',
           'timeout')
  return dict(zip(names, map(int, match.groups())))


def run_h2load(server: ServerProcess, body_path: str, concurrency: int,
               seconds: int, method: str = PREDICT_METHOD,
               check_status: bool = True) -> Dict[str, object]:
  """h2load: one HTTP/2 connection with `concurrency` gRPC calls in flight.

  Latencies come from h2load's per-request log. With `check_status`, errors
  are the calls h2load completed that the server did not count OK.
  """
  h2load = _tool('h2load')
  with tempfile.NamedTemporaryFile(suffix='.log') as log:
    ok_before = server.ok_count() if check_status else 0
    cpu_before, server_before = _children_cpu(), server.cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(
        [h2load, '-t1', '-c1', f'-m{concurrency}', f'-D{int(seconds)}',
         f'--log-file={log.name}', f'--data={body_path}',
         '-H', 'content-type: application/grpc', '-H', 'te: trailers',
         f'http://127.0.0.1:{server.grpc_port}{method}'],
        capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - server_before
    load_cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
      raise LoadError(f'h2load failed (exit {done.returncode}): '
                      f'{(done.stderr or done.stdout).strip()[:300]}')
    counts = _h2load_counts(done.stdout)
    latencies = sorted(int(line.split('\t')[2]) for line in
                       open(log.name, encoding='utf-8') if line.strip())
  errors = counts['failed'] + counts['errored'] + counts['timeout']
  if check_status:
    ok = server.ok_count() - ok_before
    errors = max(errors, counts['done'] - ok)
  measured = len(latencies)
  stats = {
      'requests': measured, 'errors': errors, 'seconds': float(seconds),
      'throughput_rps': round(measured / seconds, 1),
      'p50_ms': _percentile(latencies, 0.5) / 1e3,
      'p99_ms': _percentile(latencies, 0.99) / 1e3,
  }
  return _with_cpu(stats, server_cpu, wall, counts['done'], load_cpu, wall)


def _percentile(ordered: List[int], q: float) -> float:
  if not ordered:
    return 0.0
  return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
