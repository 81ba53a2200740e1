"""Fixtures for the serving tests: small SavedModels and running servers.

Models are built once per session with TensorFlow into tmp dirs; servers run
in-process on free loopback ports and are always stopped at teardown.
"""

import pytest

import serving  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)
from serving import example_models
from serving import model_server
from serving import server_config

from serving_helpers import HOST, deploy, free_port
from tests.conftest import made_once_pickled


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'e2e: needs the real pipeline run (tests/conftest.py e2e_run)')


@pytest.fixture(scope='session')
def models(tmp_path_factory):
  """Version dirs built once: copy them into a base path to 'deploy' them."""
  root = tmp_path_factory.mktemp('models')
  built = {
      'hpt_v1': example_models.write_half_plus_two(
          str(root / 'hpt_a'), 1, b=2.0, warmup=True),
      'hpt_v2': example_models.write_half_plus_two(
          str(root / 'hpt_b'), 2, b=3.0, warmup=True),
      'keras_v1': example_models.write_keras_half_plus_two(
          str(root / 'keras'), 1),
  }
  return built


@pytest.fixture(scope='session')
def complaint_model(request, tmp_path_factory):
  """A contract-shaped complaint model (base path with version 1), made
  once for both xdist workers (test_client's and test_bulk_client's files);
  read-only: a test that deploys into a base path copies it."""
  def make(folder):
    base = folder / 'complaints'
    example_models.write_complaint_model(str(base), 1)
    return str(base)
  return made_once_pickled(request, tmp_path_factory, 'complaint_model', make)


@pytest.fixture
def start_server():
  """Starts ModelServers with given options; stops them all at teardown."""
  servers = []

  def start(**kwargs) -> model_server.ModelServer:
    kwargs.setdefault('port', free_port())
    kwargs.setdefault('rest_api_port', free_port())
    kwargs.setdefault('bind_address', HOST)
    options = server_config.ServerOptions(**kwargs)
    server = model_server.ModelServer(options)
    servers.append(server)
    return server.start()

  yield start
  for server in servers:
    server.stop()


@pytest.fixture(scope='module')
def conformance_models(models, tmp_path_factory):
  """ServerOptions for half_plus_two (TF1) + keras_half_plus_two (TF2),
  metrics enabled (ports aside)."""
  root = tmp_path_factory.mktemp('conformance')
  deploy(models['hpt_v1'], root / 'half_plus_two', 1)
  deploy(models['keras_v1'], root / 'keras_half_plus_two', 1)
  config = root / 'models.config'
  server_config.write_model_server_config(str(config), [
      {'name': 'half_plus_two', 'base_path': str(root / 'half_plus_two')},
      {'name': 'keras_half_plus_two',
       'base_path': str(root / 'keras_half_plus_two')},
  ])
  monitoring = root / 'monitoring.config'
  monitoring.write_text('prometheus_config { enable: true, '
                        'path: "/monitoring/prometheus/metrics" }\n')
  return {'model_config_file': str(config),
          'monitoring_config_file': str(monitoring),
          'file_system_poll_wait_seconds': 0}


@pytest.fixture(scope='module')
def conformance_server(conformance_models):
  """A server of conformance_models on free loopback ports."""
  options = server_config.ServerOptions(
      port=free_port(), rest_api_port=free_port(), bind_address=HOST,
      **conformance_models)
  server = model_server.ModelServer(options).start()
  yield server
  server.stop()
