"""Helpers shared by the serving tests (a uniquely named module, so test
files need not import from an ambiguous `conftest`)."""

import http.client
import json
import os
import shutil
import time

from serving import child_server

HOST = '127.0.0.1'


# One implementation for the tests and the child-server helper.
free_port = child_server.free_port


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(interval)
  raise AssertionError(f'condition not met within {timeout}s')


def deploy(version_dir: str, base_path, version: int) -> str:
  """Copies a built version into base_path/version atomically (rename)."""
  os.makedirs(base_path, exist_ok=True)
  staging = os.path.join(str(base_path), f'.staging-{version}')
  shutil.copytree(version_dir, staging)
  target = os.path.join(str(base_path), str(version))
  os.rename(staging, target)
  return target


def call(port, method, path, body=None, host='127.0.0.1', raw=False,
         headers=None, timeout=30):
  conn = http.client.HTTPConnection(host, port, timeout=timeout)
  try:
    if isinstance(body, (dict, list)):
      body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
  finally:
    conn.close()
  if raw:
    return response.status, data.decode('utf-8'), response
  return response.status, (json.loads(data) if data else None)
