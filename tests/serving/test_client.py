"""The complaint client and CLI, over REST and gRPC, against the server."""

import json
import subprocess
import sys

import pytest

from serving_helpers import free_port
from serving import client_grpc
from serving import client_inputs
from serving import client_rest
from serving import client_types
from serving import example_models

COMPLAINT = {
    'Product': 'product_3', 'State': 'state_1', 'ZIP code': '606XX',
    'Consumer complaint narrative': 'w1 w2 they charged me twice',
    'Company response to consumer': 'company_response_2',
    'Complaint ID': '12345',  # Not a model input: ignored.
}


@pytest.fixture(scope='module')
def complaint_server(complaint_model):
  from serving import model_server, server_config  # pylint: disable=g-import-not-at-top
  options = server_config.ServerOptions(
      port=free_port(), rest_api_port=free_port(), bind_address='127.0.0.1',
      model_name='complaints', model_base_path=complaint_model,
      file_system_poll_wait_seconds=0)
  server = model_server.ModelServer(options).start()
  yield server
  server.stop()


def test_to_features_maps_export_columns():
  values = client_inputs.to_features(COMPLAINT)
  assert values['product'] == 'product_3'
  assert values['zip_code'] == '606XX'
  assert values['narrative'] == 'w1 w2 they charged me twice'
  assert values['sub_issue'] == ''  # missing -> empty string
  assert 'complaint_id' not in values


def test_rest_and_grpc_agree(complaint_server):
  rest = client_rest.RestClient('127.0.0.1', complaint_server.rest_port)
  grpc_client = client_grpc.GrpcClient('127.0.0.1',
                                       complaint_server.grpc_port)
  try:
    by_rest = rest.predict(COMPLAINT)
    by_grpc = grpc_client.predict(COMPLAINT)
  finally:
    rest.close()
    grpc_client.close()
  assert 0.0 <= by_rest.disputed_probability <= 1.0
  assert by_rest.disputed_probability == pytest.approx(
      by_grpc.disputed_probability, abs=1e-6)
  assert by_rest.model_version == by_grpc.model_version == 1


def test_batches_of_synthetic_complaints(complaint_server):
  rows = [client_inputs.to_features(c)
          for c in example_models.sample_complaints(5)]
  rest = client_rest.RestClient('127.0.0.1', complaint_server.rest_port)
  grpc_client = client_grpc.GrpcClient('127.0.0.1',
                                       complaint_server.grpc_port)
  by_rest = rest.predict_features(rows)
  by_grpc, version = grpc_client.predict_features(rows)
  rest.close()
  grpc_client.close()
  assert by_rest == pytest.approx(by_grpc, abs=1e-6) and version == 1


def test_clear_errors():
  port = free_port()  # Nothing listens there.
  with pytest.raises(client_types.ClientError,
                     match='Cannot reach the model server'):
    client_rest.RestClient('127.0.0.1', port, timeout=2).predict(COMPLAINT)
  with pytest.raises(client_types.ClientError,
                     match='Cannot reach the model server'):
    client_grpc.GrpcClient('127.0.0.1', port, timeout=2).predict(COMPLAINT)
  with pytest.raises(client_types.ClientError,
                     match='either a version or a label'):
    client_rest.RestClient(version=1, label='stable')


def test_unknown_model_error_is_the_servers(complaint_server):
  rest = client_rest.RestClient('127.0.0.1', complaint_server.rest_port,
                                model_name='nope')
  with pytest.raises(client_types.ClientError) as info:
    rest.predict(COMPLAINT)
  assert str(info.value) == (
      'HTTP 404: Servable not found for request: Latest(nope)')
  grpc_client = client_grpc.GrpcClient('127.0.0.1',
                                       complaint_server.grpc_port, version=9)
  with pytest.raises(client_types.ClientError) as info:
    grpc_client.predict(COMPLAINT)
  assert str(info.value) == ('NOT_FOUND: Servable not found for request: '
                             'Specific(complaints, 9)')


@pytest.mark.parametrize('protocol', ['rest', 'grpc'])
def test_cli_last_line_is_json(complaint_server, protocol, tmp_path):
  port = (complaint_server.rest_port if protocol == 'rest'
          else complaint_server.grpc_port)
  path = tmp_path / 'complaint.json'
  path.write_text(json.dumps(COMPLAINT))
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--protocol', protocol,
       '--host', '127.0.0.1', '--port', str(port), '--model_name',
       'complaints', '--complaint', f'@{path}'],
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  last = json.loads(result.stdout.strip().splitlines()[-1])
  assert 0.0 <= last['disputed_probability'] <= 1.0
  assert last['model_version'] == 1


def test_cli_help_has_examples():
  result = subprocess.run([sys.executable, '-m', 'serving.client', '--help'],
                          capture_output=True, text=True, timeout=60,
                          check=True)
  assert 'python -m serving.client --protocol rest' in result.stdout


@pytest.mark.parametrize('content', [b'{"Product": "\xff\xfe"}', b'\x80abc'])
def test_cli_non_utf8_complaint_file_is_a_one_line_error(tmp_path, content):
  path = tmp_path / 'complaint.json'
  path.write_bytes(content)
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--port', str(free_port()),
       '--complaint', f'@{path}'],
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2, result.stderr
  assert 'Traceback' not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: --complaint '), lines
  assert 'UTF-8' in lines[0]


def test_cli_missing_complaint_file_is_exit_2(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'serving.client', '--port', str(free_port()),
       '--complaint', f'@{tmp_path / "nope.json"}'],
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines() == [
      f'error: --complaint: cannot read {tmp_path / "nope.json"}: '
      'No such file or directory']
