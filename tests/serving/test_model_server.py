"""`python -m serving.model_server` as a process, like tensorflow_model_server."""

import signal
import socket
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


def _run_cli(*flags):
  return subprocess.run(
      [sys.executable, '-m', 'serving.model_server', *flags],
      capture_output=True, text=True, timeout=120, check=False)


def _last_line(text: str) -> str:
  return text.strip().splitlines()[-1]


def test_negative_grpc_max_threads_is_a_one_line_error(models, tmp_path):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  result = _run_cli(f'--port={free_port()}', '--grpc_max_threads=-1',
                    '--model_name=hpt', f'--model_base_path={tmp_path / "hpt"}')
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr
  assert _last_line(result.stderr) == (
      'Failed to start server. Error: INVALID_ARGUMENT: --grpc_max_threads '
      'must be >= 0 (0 = auto), got -1')


def test_busy_port_is_reported_before_any_model_loads(models, tmp_path):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  for busy_flag in ('--rest_api_port', '--port'):
    with socket.socket() as busy:
      busy.bind(('127.0.0.1', 0))
      busy.listen(1)
      port = busy.getsockname()[1]
      other = '--port' if busy_flag == '--rest_api_port' else '--rest_api_port'
      result = _run_cli(f'{busy_flag}={port}', f'{other}={free_port()}',
                        '--bind_address=127.0.0.1', '--model_name=hpt',
                        f'--model_base_path={tmp_path / "hpt"}')
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'Traceback' not in output
    assert f'127.0.0.1:{port}' in _last_line(result.stderr), output
    assert _last_line(result.stderr).startswith('Failed to start server.')
    # Checked before loading: the model was never loaded.
    assert 'Successfully loaded servable' not in output
    assert 'Reading SavedModel' not in output
