"""Server options and TF Serving's text-format config files.

`tensorflow_model_server`'s flags are mirrored name for name (same defaults
and meanings), so a command line or a docker `args:` list moves between the
two servers unchanged. Config files are parsed with TF Serving's own protos:
`ModelServerConfig` from the `tensorflow-serving-api` wheel, and
`BatchingParameters` / `MonitoringConfig` from tf_serving_protos.py.
"""

import argparse
import dataclasses
import logging
import os
from typing import List, Optional, Sequence

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import status
from serving import tf_serving_protos

TENSORFLOW_PLATFORM = 'tensorflow'
DEFAULT_PROMETHEUS_PATH = '/monitoring/prometheus/metrics'

# Flags of tensorflow_model_server that change nothing here; accepted so that
# a command line written for TF Serving still starts this server.
IGNORED_FLAGS = (
    'flush_filesystem_caches', 'per_process_gpu_memory_fraction',
    'num_load_threads', 'num_unload_threads',
    'tensorflow_session_config_file', 'xla_cpu_compilation_enabled',
    'enable_profiler', 'remove_unused_fields_from_bundle_metagraph',
    'prefer_tflite_model', 'num_tflite_pools',
    'num_tflite_interpreters_per_pool', 'thread_pool_factory_config_file',
    'enable_per_model_batching_parameters', 'use_alts_credentials')


@dataclasses.dataclass(frozen=True)
class ServerOptions:
  """What `python -m serving.model_server` was asked to do."""
  port: int = 8500
  rest_api_port: int = 0
  rest_api_timeout_in_ms: int = 30000
  # TF Serving's name: threads for the REST calls that block (0 = 4 x
  # cores, TF Serving's default); with --server_transport=threads, the cap
  # on concurrent REST connections, one thread each (0 = 256).
  rest_api_num_threads: int = 0
  rest_api_enable_cors_support: bool = False
  model_name: str = 'default'
  model_base_path: str = ''
  model_config_file: str = ''
  model_config_file_poll_wait_seconds: int = 0
  file_system_poll_wait_seconds: int = 1
  max_num_load_retries: int = 5
  load_retry_interval_micros: int = 60 * 1000 * 1000
  enable_batching: bool = False
  batching_parameters_file: str = ''
  allow_version_labels_for_unavailable_models: bool = False
  enable_model_warmup: bool = True
  num_request_iterations_for_warmup: int = 0
  monitoring_config_file: str = ''
  grpc_channel_arguments: str = ''
  grpc_max_threads: int = 0
  saved_model_tags: str = 'serve'
  enable_signature_method_name_check: bool = False
  tensorflow_session_parallelism: int = 0
  tensorflow_intra_op_parallelism: int = 0
  tensorflow_inter_op_parallelism: int = 0
  # Extensions (not in tensorflow_model_server); defaults keep TF Serving's
  # behaviour, so no command line needs them.
  bind_address: str = '0.0.0.0'
  rest_api_max_body_bytes: int = 64 * 1024 * 1024
  rest_api_idle_timeout_in_ms: int = 30000
  max_tensor_elements: int = 16 * 1024 * 1024
  warmup_all_signatures: bool = True
  request_log_max_file_bytes: int = 64 * 1024 * 1024
  request_log_queue_size: int = 1024
  # 0 = three quarters of the open-file limit (`ulimit -n`).
  rest_api_max_connections: int = 0
  server_transport: str = 'event_loop'
  request_log_max_total_bytes: int = 10 * 1024 * 1024 * 1024
  request_log_max_age_seconds: int = 0
  request_log_write_retry_ms: int = 1000


DEFAULT_REST_CONNECTIONS = 256  # --server_transport=threads only.
TRANSPORTS = ('event_loop', 'threads')


def default_rest_threads() -> int:
  """TF Serving's default --rest_api_num_threads: 4 x the cores."""
  return 4 * (os.cpu_count() or 1)


def default_max_connections() -> int:
  """Three quarters of the soft open-file limit: the rest stays for gRPC
  connections, model files and request logs."""
  import resource  # pylint: disable=g-import-not-at-top
  soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
  if soft == resource.RLIM_INFINITY:
    soft = 65536
  return max(16, soft * 3 // 4)


def _parse_bool(value: str) -> bool:
  lowered = str(value).strip().lower()
  if lowered in ('1', 'true', 't', 'yes'):
    return True
  if lowered in ('0', 'false', 'f', 'no'):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {value!r}')


def add_flags(parser: argparse.ArgumentParser) -> None:
  """Adds tensorflow_model_server's flags (and ours) to `parser`."""
  defaults = ServerOptions()
  for field in dataclasses.fields(ServerOptions):
    default = getattr(defaults, field.name)
    help_text = _HELP.get(field.name, '')
    if field.type in (bool, 'bool'):
      parser.add_argument(f'--{field.name}', type=_parse_bool, nargs='?',
                          const=True, default=default,
                          help=f'{help_text} (default: {default})')
    else:
      kind = int if field.type in (int, 'int') else str
      parser.add_argument(f'--{field.name}', type=kind, default=default,
                          help=f'{help_text} (default: {default!r})')
  for name in IGNORED_FLAGS:
    parser.add_argument(f'--{name}', nargs='?', const='true',
                        help=argparse.SUPPRESS)
  parser.add_argument('--version', action='store_true',
                      help='Display version and exit.')


def options_from_args(args: argparse.Namespace) -> ServerOptions:
  for name in IGNORED_FLAGS:
    if getattr(args, name, None) is not None:
      logging.warning('--%s has no effect in this server; ignored.', name)
  return ServerOptions(**{f.name: getattr(args, f.name)
                          for f in dataclasses.fields(ServerOptions)})


_HELP = {
    'port': 'Port to listen on for the gRPC API.',
    'rest_api_port': 'Port to listen on for the HTTP/REST API; 0 disables '
                     'it. Must differ from --port.',
    'rest_api_timeout_in_ms': 'Timeout for HTTP/REST API calls: a request '
                              'still running after it is answered 504 '
                              '(0 = none).',
    'rest_api_num_threads': 'Threads for the HTTP/REST calls that block '
                            '(a model run without batching, classify, '
                            'regress); 0 = 4 x cores. With '
                            '--server_transport=threads: max concurrent '
                            'REST connections, one thread each, more get '
                            f'HTTP 503 (0 = {DEFAULT_REST_CONNECTIONS}).',
    'rest_api_enable_cors_support': 'Enable CORS headers in responses.',
    'model_name': 'Name of the model (ignored if --model_config_file is set).',
    'model_base_path': 'Path to the model, without the version directory '
                       '(ignored if --model_config_file is set).',
    'model_config_file': 'Text ModelServerConfig to serve several models, '
                         'version policies and labels.',
    'model_config_file_poll_wait_seconds': 'Seconds between reloads of '
                                           '--model_config_file; 0 = never.',
    'file_system_poll_wait_seconds': 'Seconds between polls of the base paths '
                                     'for new versions.',
    'max_num_load_retries': 'Times a failed load is retried.',
    'load_retry_interval_micros': 'Interval between load retries.',
    'enable_batching': 'Enable server-side request batching.',
    'batching_parameters_file': 'Text BatchingParameters for batching.',
    'allow_version_labels_for_unavailable_models': 'Allow labels that point '
                                                   'to versions not loaded '
                                                   'yet.',
    'enable_model_warmup': 'Replay assets.extra/tf_serving_warmup_requests '
                           'before a version takes traffic.',
    'num_request_iterations_for_warmup': 'Times each warmup record is '
                                         'replayed (if > 0).',
    'monitoring_config_file': 'Text MonitoringConfig (Prometheus endpoint).',
    'grpc_channel_arguments': 'Comma-separated gRPC server arguments, e.g. '
                              'grpc.max_connection_age_ms=2000.',
    'grpc_max_threads': 'Max gRPC worker threads (0 = auto: max(32, '
                        '4 x cores)); at most 4x as many RPCs are in '
                        'flight, more get RESOURCE_EXHAUSTED.',
    'saved_model_tags': 'Comma-separated MetaGraphDef tags to load.',
    'enable_signature_method_name_check': 'Require classify/regress method '
                                          'names on signatures.',
    'tensorflow_session_parallelism': 'TF threads (0 = auto).',
    'tensorflow_intra_op_parallelism': 'TF intra-op threads (0 = auto).',
    'tensorflow_inter_op_parallelism': 'TF inter-op threads (0 = auto).',
    'bind_address': '[extension] Address both APIs listen on.',
    'rest_api_max_body_bytes': '[extension] Larger REST bodies are refused '
                               'with HTTP 413.',
    'rest_api_idle_timeout_in_ms': '[extension] A REST connection silent '
                                   'this long (between requests or between '
                                   'two reads) is closed.',
    'max_tensor_elements': '[extension] Max elements of one request tensor '
                           '(gRPC TensorProto or REST JSON); larger ones are '
                           'INVALID_ARGUMENT.',
    'warmup_all_signatures': '[extension] After the warmup records, also '
                             'run every signature once on a default input, '
                             'so no first request pays for its graph.',
    'request_log_max_file_bytes': '[extension] A request log file '
                                  '(logging_config) is closed once it holds '
                                  'this many bytes; the next record starts '
                                  'a new file.',
    'request_log_queue_size': '[extension] Request log records waiting for '
                              'the background writer; more are dropped '
                              '(and counted), never waited for.',
    'rest_api_max_connections': '[extension] Max open HTTP/REST '
                                'connections; more get HTTP 503 and are '
                                'closed (0 = three quarters of `ulimit -n`).',
    'server_transport': '[extension] event_loop (both APIs on one uvloop '
                        'event loop, grpc.aio) or threads (the former '
                        'transport: a thread per REST connection, grpcio\'s '
                        'thread-pool server).',
    'request_log_max_total_bytes': '[extension] Retention per request log '
                                   'collector: its files (all with its '
                                   'filename_prefix) are kept within this '
                                   'many bytes, the oldest deleted first; '
                                   '0 = no bound. At least '
                                   '--request_log_max_file_bytes.',
    'request_log_max_age_seconds': '[extension] Retention per request log '
                                   'collector: its files last written '
                                   'longer ago are deleted; 0 = no bound.',
    'request_log_write_retry_ms': '[extension] After a failed request log '
                                  'write (a full or failing disk), records '
                                  'are dropped (and counted) this long '
                                  'before the disk is tried again; doubles '
                                  'with each failure in a row, up to 60 s.',
}


def validate_options(options: ServerOptions) -> None:
  """Rejects flag values that cannot work, before anything is loaded."""
  for name in ('port', 'rest_api_port'):
    value = getattr(options, name)
    if not 0 <= value <= 65535:
      raise status.invalid_argument(
          f'--{name} must be a TCP port (0-65535), got {value}')
  for name, minimum, meaning in (
      ('grpc_max_threads', 0, '0 = auto'),
      ('rest_api_num_threads', 0, '0 = auto'),
      ('rest_api_max_body_bytes', 0, 'bytes'),
      ('rest_api_idle_timeout_in_ms', 1, 'milliseconds'),
      ('max_tensor_elements', 1, 'elements'),
      ('request_log_max_file_bytes', 1, 'bytes'),
      ('request_log_queue_size', 1, 'records'),
      ('request_log_max_total_bytes', 0, 'bytes, 0 = no bound'),
      ('request_log_max_age_seconds', 0, 'seconds, 0 = no bound'),
      ('request_log_write_retry_ms', 1, 'milliseconds')):
    value = getattr(options, name)
    if value < minimum:
      raise status.invalid_argument(
          f'--{name} must be >= {minimum} ({meaning}), got {value}')
  if 0 < options.request_log_max_total_bytes < (
      options.request_log_max_file_bytes):
    raise status.invalid_argument(
        '--request_log_max_total_bytes must be 0 (no bound) or at least '
        f'--request_log_max_file_bytes ({options.request_log_max_file_bytes})'
        f', got {options.request_log_max_total_bytes}')


  if options.server_transport not in TRANSPORTS:
    raise status.invalid_argument(
        f'--server_transport must be one of {", ".join(TRANSPORTS)}, got '
        f'{options.server_transport!r}')


def parse_text_proto(path: str, message):
  """Parses a text proto file like TF Serving's ParseProtoTextFile."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise status.ServingError(status.NOT_FOUND, f'{path}; {e.strerror}')
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as e:
    raise status.invalid_argument(
        f"Invalid protobuf file: '{path}' (not UTF-8 text: byte "
        f'0x{data[e.start]:02x} at offset {e.start})') from None
  try:
    return text_format.Parse(text, message)
  except text_format.ParseError as e:
    raise status.invalid_argument(
        f"Invalid protobuf file: '{path}' ({e})") from None


def read_model_server_config(
    path: str) -> model_server_config_pb2.ModelServerConfig:
  return parse_text_proto(path, model_server_config_pb2.ModelServerConfig())


def read_batching_parameters(path: str):
  return parse_text_proto(path, tf_serving_protos.BatchingParameters())


def read_monitoring_config(path: str):
  return parse_text_proto(path, tf_serving_protos.MonitoringConfig())


def single_model_config(
    model_name: str,
    base_path: str) -> model_server_config_pb2.ModelServerConfig:
  """The config TF Serving builds from --model_name/--model_base_path."""
  config = model_server_config_pb2.ModelServerConfig()
  model = config.model_config_list.config.add()
  model.name = model_name
  # A relative --model_base_path is taken relative to the working directory.
  model.base_path = (base_path if '://' in base_path
                     else os.path.abspath(base_path))
  model.model_platform = TENSORFLOW_PLATFORM
  return config


def initial_config(
    options: ServerOptions) -> model_server_config_pb2.ModelServerConfig:
  if not options.model_config_file and not options.model_base_path:
    raise status.invalid_argument(
        'Both server_options.model_base_path and '
        'server_options.model_config_file are empty!')
  if options.model_config_file:
    return read_model_server_config(options.model_config_file)
  return single_model_config(options.model_name, options.model_base_path)


def validate_model_config_list(
    config: model_server_config_pb2.ModelServerConfig) -> None:
  """Checks TF Serving applies before accepting a config."""
  if config.WhichOneof('config') not in (None, 'model_config_list'):
    raise status.invalid_argument(
        'ServerModelConfig type not supported by HandleReloadConfigRequest. '
        'Only ModelConfigList is currently supported')
  seen = set()
  for model in config.model_config_list.config:
    if model.name in seen:
      raise status.invalid_argument(
          f'Illegal to list model {model.name} multiple times in config list')
    seen.add(model.name)
    if not model.name:
      raise status.invalid_argument('ModelConfig has no name specified.')
    platform = model.model_platform or TENSORFLOW_PLATFORM
    if platform != TENSORFLOW_PLATFORM:
      raise status.invalid_argument(
          f'Model {model.name} requests unsupported platform {platform}')
    if not os.path.isabs(model.base_path) and '://' not in model.base_path:
      raise status.invalid_argument(
          f'Model {model.name} base_path must be absolute (as in TF '
          f'Serving): {model.base_path!r}')


def write_model_server_config(path: str, models: Sequence[dict]) -> str:
  """Writes a ModelServerConfig text file (the format both servers read).

  Args:
    path: file to write.
    models: dicts with `name`, `base_path` and optionally `versions` (list of
      ints: a `specific` policy; default: latest 1), `labels`
      ({label: version}) and `logging` ({'filename_prefix': ...,
      'sampling_rate': ..., 'type': 'tfrecord'}: a `logging_config`, which
      only this server accepts; the real TF Serving refuses to start with
      one, so configs meant for it must leave `logging` out).

  Returns:
    The text written.
  """
  config = model_server_config_pb2.ModelServerConfig()
  for spec in models:
    model = config.model_config_list.config.add()
    model.name = spec['name']
    model.base_path = os.path.abspath(spec['base_path'])
    model.model_platform = TENSORFLOW_PLATFORM
    versions: Optional[List[int]] = spec.get('versions')
    if versions:
      model.model_version_policy.specific.versions.extend(versions)
    for label, version in (spec.get('labels') or {}).items():
      model.version_labels[label] = version
    logging_spec = spec.get('logging')
    if logging_spec:
      collector = model.logging_config.log_collector_config
      collector.type = logging_spec.get('type', 'tfrecord')
      collector.filename_prefix = os.path.abspath(
          logging_spec['filename_prefix'])
      model.logging_config.sampling_config.sampling_rate = float(
          logging_spec.get('sampling_rate', 1.0))
  text = text_format.MessageToString(config)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return text
