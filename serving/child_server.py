"""The model server as a child process: started, waited for, stopped.

What the monitoring tests, the monitoring benchmark and the loop need: a
real `python -m serving.model_server` on free loopback ports, serving a
model config (request logging included), ready once every model reports a
version AVAILABLE over REST, stopped with SIGTERM (it finishes the requests
it is running and flushes its request logs).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, Optional

HOST = '127.0.0.1'


class ServerStartError(RuntimeError):
  """The server exited or did not become ready; the message has its log."""


_HANDED_OUT = set()


def free_port() -> int:
  """A free loopback port not handed out before in this process.

  The OS may give a just-closed port again at once; two calls for one
  server (gRPC and REST) must not get the same one.
  """
  while True:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
      s.bind((HOST, 0))
      port = s.getsockname()[1]
    if port not in _HANDED_OUT:
      _HANDED_OUT.add(port)
      return port


def _available(rest_port: int, model_name: str) -> Optional[int]:
  """The AVAILABLE version of model_name, or None (not up, not loaded)."""
  try:
    conn = http.client.HTTPConnection(HOST, rest_port, timeout=2)
    conn.request('GET', f'/v1/models/{model_name}')
    body = json.loads(conn.getresponse().read() or b'{}')
    conn.close()
  except (OSError, ValueError):
    return None
  for status in body.get('model_version_status', []):
    if status.get('state') == 'AVAILABLE':
      return int(status['version'])
  return None


class ChildServer:
  """`with ChildServer(config, ['complaints'], log) as server: server.grpc_port`."""

  def __init__(self, model_config_file: str, model_names: List[str],
               log_path: str, timeout: float = 180.0,
               extra_flags: Optional[List[str]] = None):
    self.model_config_file = model_config_file
    self.model_names = model_names
    self.log_path = log_path
    self.timeout = timeout
    self.extra_flags = list(extra_flags or [])
    self.grpc_port = self.rest_port = None
    self.versions = {}
    self._process = None
    self._log = None

  def __enter__(self) -> 'ChildServer':
    self.grpc_port, self.rest_port = free_port(), free_port()
    os.makedirs(os.path.dirname(os.path.abspath(self.log_path)),
                exist_ok=True)
    self._log = open(self.log_path, 'ab')
    self._process = subprocess.Popen(
        [sys.executable, '-m', 'serving.model_server',
         f'--port={self.grpc_port}', f'--rest_api_port={self.rest_port}',
         f'--model_config_file={self.model_config_file}',
         f'--bind_address={HOST}', *self.extra_flags],
        stdout=self._log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + self.timeout
    while time.monotonic() < deadline:
      if self._process.poll() is not None:
        self._fail(f'exited with code {self._process.returncode}')
      self.versions = {name: _available(self.rest_port, name)
                       for name in self.model_names}
      if all(self.versions.values()):
        return self
      time.sleep(0.25)
    self._fail(f'no model AVAILABLE within {self.timeout:.0f} s')
    return self  # not reached

  def _fail(self, why: str) -> None:
    self.stop()
    with open(self.log_path, 'rb') as f:
      tail = f.read()[-1500:].decode('utf-8', 'replace')
    raise ServerStartError(f'the model server {why}; log {self.log_path}:\n'
                           f'{tail}')

  def stop(self) -> None:
    if self._process and self._process.poll() is None:
      self._process.send_signal(signal.SIGTERM)
      try:
        self._process.wait(timeout=60)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait()
    if self._log:
      self._log.close()
      self._log = None

  def __exit__(self, *exc) -> None:
    self.stop()


def serve_and_score(serving_dir: str, complaints_csv: str, work: str,
                    model_name: str = 'complaints',
                    dataset: Optional[str] = None) -> dict:
  """Serves serving_dir with request logging and scores a CSV through it.

  The way production traffic goes: `serving.write_config` with a
  `logging_config`, the model server as a child process, the bulk client
  (`serving.client --complaints`; with `dataset`, a spec other than CFPB's:
  `--dataset D --rows`, each row with its join key) over gRPC. Returns the
  client's JSON
  summary with `request_logs` (the folder of the PredictionLog files) and
  `scores` (its CSV) added.

  Raises:
    ServerStartError: the server did not come up.
    RuntimeError: the client failed (its last stderr lines).
  """
  os.makedirs(work, exist_ok=True)
  logs = os.path.join(work, 'request_logs')
  config = os.path.join(work, 'models.config')
  scores = os.path.join(work, 'scores.csv')
  written = subprocess.run(
      [sys.executable, '-m', 'serving.write_config', '--serving_dir',
       serving_dir, '--output', config, '--request_log_dir', logs],
      capture_output=True, text=True)
  if written.returncode:
    raise RuntimeError(f'serving.write_config failed: {written.stderr[-500:]}')
  with ChildServer(config, [model_name],
                   os.path.join(work, 'server.log')) as server:
    sent = subprocess.run(
        [sys.executable, '-m', 'serving.client', '--protocol', 'grpc',
         '--host', HOST, '--port', str(server.grpc_port), '--model_name',
         model_name, *(['--dataset', dataset, '--rows'] if dataset
                       else ['--complaints']), complaints_csv,
         '--out', scores],
        capture_output=True, text=True, timeout=3600)
  if sent.returncode not in (0, 1) or not sent.stdout.strip():
    raise RuntimeError(f'serving.client failed: {sent.stderr[-1500:]}')
  summary = json.loads(sent.stdout.strip().splitlines()[-1])
  summary.update(request_logs=logs, scores=scores)
  return summary
