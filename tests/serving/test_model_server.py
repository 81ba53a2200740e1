"""`python -m serving.model_server` as a process, like tensorflow_model_server."""

import signal
import subprocess
import sys

from serving_helpers import call, deploy, free_port, wait_for


def test_cli_serves_and_stops_on_sigterm(models, tmp_path):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  grpc_port, rest_port = free_port(), free_port()
  process = subprocess.Popen(
      [sys.executable, '-m', 'serving.model_server', f'--port={grpc_port}',
       f'--rest_api_port={rest_port}', '--model_name=hpt',
       f'--model_base_path={tmp_path / "hpt"}', '--bind_address=127.0.0.1'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    def ready():
      try:
        return call(rest_port, 'GET', '/v1/models/hpt', timeout=2)[0] == 200
      except OSError:
        return process.poll() is not None  # Died: stop waiting.
    wait_for(ready, timeout=120, interval=0.5)
    assert process.poll() is None, process.stdout.read()
    assert call(rest_port, 'POST', '/v1/models/hpt:predict',
                {'instances': [2.0]}) == (200, {'predictions': [3.0]})
  finally:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
  assert process.returncode == 0, output
  assert 'Running gRPC ModelServer at 127.0.0.1:' in output


def test_cli_reports_startup_errors():
  result = subprocess.run(
      [sys.executable, '-m', 'serving.model_server', '--port=0'],
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 255
  assert 'Failed to start server. Error: INVALID_ARGUMENT:' in result.stderr


def test_help_lists_tf_serving_flags():
  result = subprocess.run(
      [sys.executable, '-m', 'serving.model_server', '--help'],
      capture_output=True, text=True, timeout=120, check=True)
  for flag in ('--port', '--rest_api_port', '--model_name',
               '--model_base_path', '--model_config_file',
               '--model_config_file_poll_wait_seconds',
               '--file_system_poll_wait_seconds', '--enable_batching',
               '--batching_parameters_file', '--monitoring_config_file',
               '--rest_api_timeout_in_ms'):
    assert flag in result.stdout
