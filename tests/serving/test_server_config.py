"""Flags and config files: TF Serving's names, formats and protos."""

import glob
import os

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import model_server
from serving import server_config
from serving import status
from serving import tf_serving_protos
from serving import write_config

CONFIG_DIR = os.path.join(os.path.dirname(server_config.__file__), 'configs')
PARSERS = {
    'models.config': model_server_config_pb2.ModelServerConfig,
    'batching.config': tf_serving_protos.BatchingParameters,
    'monitoring.config': tf_serving_protos.MonitoringConfig,
}


def test_every_shipped_config_parses_with_tf_serving_protos():
  files = sorted(glob.glob(os.path.join(CONFIG_DIR, '*.config')))
  assert {os.path.basename(f) for f in files} == set(PARSERS)
  for path in files:
    with open(path, encoding='utf-8') as f:
      message = text_format.Parse(f.read(), PARSERS[os.path.basename(path)]())
    assert message.ByteSize() > 0


def test_written_model_config_parses_with_tf_serving_protos(tmp_path):
  (tmp_path / 'complaints' / '1').mkdir(parents=True)
  (tmp_path / 'other').mkdir()
  assert write_config.main(['--serving_dir', str(tmp_path),
                            '--labels', 'stable=1,canary=2']) == 0
  text = (tmp_path / 'models.config').read_text()
  config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
  names = [c.name for c in config.model_config_list.config]
  assert names == ['complaints', 'other']
  model = config.model_config_list.config[0]
  assert model.base_path == str(tmp_path / 'complaints')
  assert dict(model.version_labels) == {'stable': 1, 'canary': 2}
  assert list(model.model_version_policy.specific.versions) == [1, 2]
  server_config.validate_model_config_list(config)


def test_replicated_protos_match_upstream_schema():
  """Field names, numbers and types as in TF Serving's .proto files."""
  fields = {f.name: (f.number, f.type, f.message_type.full_name
                     if f.message_type else None)
            for f in tf_serving_protos.BatchingParameters.DESCRIPTOR.fields}
  int64 = 'google.protobuf.Int64Value'
  assert fields['max_batch_size'] == (1, 11, int64)
  assert fields['batch_timeout_micros'] == (2, 11, int64)
  assert fields['max_enqueued_batches'] == (3, 11, int64)
  assert fields['num_batch_threads'] == (4, 11, int64)
  assert fields['thread_pool_name'][:2] == (5, 11)
  assert fields['allowed_batch_sizes'][:2] == (6, 3)
  assert fields['pad_variable_length_inputs'][:2] == (7, 8)
  assert tf_serving_protos.MonitoringConfig.DESCRIPTOR.full_name == (
      'tensorflow.serving.MonitoringConfig')


def test_flags_use_tensorflow_model_server_names_and_defaults():
  parser = model_server.build_parser()
  args = parser.parse_args([
      '--port=9000', '--rest_api_port=9001', '--model_name=m',
      '--model_base_path=/tmp/m', '--enable_batching',
      '--file_system_poll_wait_seconds=5', '--rest_api_timeout_in_ms=100',
      '--model_config_file_poll_wait_seconds=7',
      '--flush_filesystem_caches=true'])
  options = server_config.options_from_args(args)
  assert (options.port, options.rest_api_port, options.model_name) == (
      9000, 9001, 'm')
  assert options.enable_batching is True
  assert options.file_system_poll_wait_seconds == 5
  assert options.model_config_file_poll_wait_seconds == 7
  defaults = server_config.options_from_args(parser.parse_args([]))
  assert (defaults.port, defaults.rest_api_port, defaults.model_name) == (
      8500, 0, 'default')
  assert parser.parse_args(['--enable_batching=false']).enable_batching is False


def test_invalid_configs_are_reported(tmp_path):
  bad = tmp_path / 'bad.config'
  bad.write_text('model_config_list { config { nme: "x" } }')
  with pytest.raises(status.ServingError) as info:
    server_config.read_model_server_config(str(bad))
  assert info.value.message.startswith(f"Invalid protobuf file: '{bad}'")
  with pytest.raises(status.ServingError) as info:
    server_config.initial_config(server_config.ServerOptions())
  assert info.value.message == ('Both server_options.model_base_path and '
                                'server_options.model_config_file are empty!')
  config = server_config.single_model_config('m', '/models/m')
  config.model_config_list.config[0].model_platform = 'pytorch'
  with pytest.raises(status.ServingError) as info:
    server_config.validate_model_config_list(config)
  assert info.value.message == 'Model m requests unsupported platform pytorch'


def test_configs_for_the_real_tf_serving_carry_no_logging_block(tmp_path):
  """Stock tensorflow_model_server refuses any logging_config ("No
  request-logger-creator provided."): what is written for it has none."""
  for path in glob.glob(os.path.join(CONFIG_DIR, 'models*.config')):
    config = server_config.read_model_server_config(path)
    assert not any(m.HasField('logging_config')
                   for m in config.model_config_list.config), path
  (tmp_path / 'complaints' / '1').mkdir(parents=True)
  assert write_config.main(['--serving_dir', str(tmp_path)]) == 0
  text = (tmp_path / 'models.config').read_text()
  assert 'logging_config' not in text
  assert 'logging_config' not in server_config.write_model_server_config(
      str(tmp_path / 'b.config'),
      [{'name': 'm', 'base_path': str(tmp_path / 'complaints')}])


def test_write_config_can_add_the_logging_block(tmp_path, capsys):
  (tmp_path / 'serving' / 'complaints' / '1').mkdir(parents=True)
  assert write_config.main([
      '--serving_dir', str(tmp_path / 'serving'),
      '--request_log_dir', str(tmp_path / 'logs'),
      '--request_log_sampling_rate', '0.25']) == 0
  assert 'serving.model_server only' in capsys.readouterr().err
  config = text_format.Parse(
      (tmp_path / 'serving' / 'models.config').read_text(),
      model_server_config_pb2.ModelServerConfig())
  logging_config = config.model_config_list.config[0].logging_config
  assert logging_config.log_collector_config.type == 'tfrecord'
  assert logging_config.log_collector_config.filename_prefix == str(
      tmp_path / 'logs' / 'complaints' / 'complaints')
  assert logging_config.sampling_config.sampling_rate == 0.25
  with pytest.raises(SystemExit):
    write_config.main(['--serving_dir', str(tmp_path / 'serving'),
                       '--request_log_dir', str(tmp_path / 'logs'),
                       '--request_log_sampling_rate', '2'])


@pytest.mark.parametrize('flag', ['request_log_max_file_bytes',
                                  'request_log_queue_size'])
def test_request_log_bounds_must_be_positive(flag):
  with pytest.raises(status.ServingError, match=f'--{flag} must be >= 1'):
    server_config.validate_options(server_config.ServerOptions(**{flag: 0}))


@pytest.mark.parametrize('flag', ['request_log_max_total_bytes',
                                  'request_log_max_age_seconds'])
def test_request_log_retention_bounds_cannot_be_negative(flag):
  with pytest.raises(status.ServingError, match=f'--{flag} must be >= 0'):
    server_config.validate_options(server_config.ServerOptions(**{flag: -1}))


def test_request_log_total_bound_holds_at_least_one_file():
  server_config.validate_options(server_config.ServerOptions(
      request_log_max_total_bytes=0, request_log_max_file_bytes=4096))
  server_config.validate_options(server_config.ServerOptions(
      request_log_max_total_bytes=4096, request_log_max_file_bytes=4096))
  with pytest.raises(status.ServingError,
                     match='--request_log_max_total_bytes must be 0 .* or at '
                           'least --request_log_max_file_bytes'):
    server_config.validate_options(server_config.ServerOptions(
        request_log_max_total_bytes=4095, request_log_max_file_bytes=4096))
  with pytest.raises(status.ServingError,
                     match='--request_log_write_retry_ms must be >= 1'):
    server_config.validate_options(server_config.ServerOptions(
        request_log_write_retry_ms=0))
