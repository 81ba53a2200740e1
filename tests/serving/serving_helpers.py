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


def write_gate_model(base_path: str, version: int = 1) -> str:
  """A model whose call waits until a file exists: a request held in flight.

  `serving_default`: gate DT_STRING [-1] -> y DT_STRING [-1] (= gate). The
  call spins inside the graph until a file matches gate[0] (an empty gate,
  as in the server's default-input warmup, passes at once), so a test holds
  calls in flight for exactly as long as it needs, then opens the gate by
  creating the file, instead of guessing how long a slow call must spin.
  The spin gives up after 300 s so that a failed test cannot hang the run.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class Gate(tf.Module):

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                                name='gate')])
    def wait(self, gate):
      pattern = tf.concat([gate, ['']], 0)[0]
      end = tf.timestamp() + 300.0

      def closed(i):
        del i
        return tf.logical_and(
            tf.logical_and(tf.strings.length(pattern) > 0,
                           tf.size(tf.io.matching_files(pattern)) == 0),
            tf.timestamp() < end)

      count = tf.while_loop(closed, lambda i: i + 1,
                            [tf.constant(0, tf.int64)])[0]
      with tf.control_dependencies([count]):
        return {'y': tf.identity(gate)}

  export_dir = os.path.join(str(base_path), str(version))
  module = Gate()
  tf.saved_model.save(module, export_dir,
                      signatures={'serving_default': module.wait})
  return export_dir
