"""`python -m serving.model_server`: a stand-in for `tensorflow_model_server`.

Same flags, same APIs, same config files; see serving/README.md. Example:

  python -m serving.model_server --port=8500 --rest_api_port=8501 \\
      --model_name=complaints --model_base_path=$PWD/output/serving/complaints

`ModelServer` is also usable in-process (tests, notebooks): `start()`
returns once the initial models are loaded and both APIs listen; `stop()`
shuts everything down.
"""

import argparse
import logging
import signal
import sys
import threading
from typing import List, Optional

from serving import batching
from serving import event_loop
from serving import grpc_api
from serving import prometheus
from serving import rest_api
from serving import rest_async
from serving import rest_server
from serving import server_config
from serving import server_core
from serving import status

__version__ = '2.16.1-py'


def _configure_tensorflow(options: server_config.ServerOptions) -> None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  intra = (options.tensorflow_intra_op_parallelism or
           options.tensorflow_session_parallelism)
  inter = (options.tensorflow_inter_op_parallelism or
           options.tensorflow_session_parallelism)
  try:
    if intra:
      tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
      tf.config.threading.set_inter_op_parallelism_threads(inter)
  except RuntimeError:
    logging.warning('TensorFlow already initialized; thread flags ignored.')


class ModelServer:
  """The gRPC and REST servers over one ServerCore."""

  def __init__(self, options: server_config.ServerOptions):
    self.options = options
    self.metrics = prometheus.Metrics()
    self.core: Optional[server_core.ServerCore] = None
    self.batcher: Optional[batching.BatchScheduler] = None
    self.grpc_server = None  # grpc_api.AsyncGrpcServer or GrpcServer.
    self.rest_server = None  # rest_async.RestServer or rest_server's.
    self.loop: Optional[event_loop.EventLoop] = None
    self._rest_executor = None
    self._stopped = threading.Event()

  @property
  def grpc_port(self) -> int:
    return self.grpc_server.port

  @property
  def rest_port(self) -> Optional[int]:
    return self.rest_server.port if self.rest_server else None

  def start(self) -> 'ModelServer':
    """Validates flags, binds both ports, then loads the models and serves.

    The ports are bound before any model is loaded, so a busy port is
    reported at once rather than after minutes of loading.
    """
    options = self.options
    server_config.validate_options(options)
    if options.port == 0:
      raise status.invalid_argument('server_options.grpc_port is not set.')
    config = server_config.initial_config(options)
    prometheus_path = self._prometheus_path()
    if options.enable_batching:
      params = (server_config.read_batching_parameters(
          options.batching_parameters_file)
                if options.batching_parameters_file else None)
      batching_options = batching.options_from_parameters(params)
      if params is None:
        batching_options = batching.BatchingOptions(
            thread_pool_name='model_server_batch_threads')
      self.batcher = batching.BatchScheduler(batching_options, self.metrics)
    elif options.batching_parameters_file:
      raise status.invalid_argument(
          'server_options.batching_parameters_file is set without setting '
          'server_options.enable_batching to true.')
    _configure_tensorflow(options)
    self.core = server_core.ServerCore(options, self.metrics, self.batcher)
    try:
      self._bind(prometheus_path)
      self.core.reload_config(config)
      self.core.start()
      self.grpc_server.start()
      logging.info('Running gRPC ModelServer at %s:%d ...',
                   options.bind_address, self.grpc_server.port)
      if self.rest_server is not None:
        self.rest_server.start()
        logging.info('Exporting HTTP/REST API at:%s:%d ...',
                     options.bind_address, self.rest_server.port)
    except BaseException:
      self.stop()
      raise
    return self

  def _bind(self, prometheus_path: Optional[str]) -> None:
    """Creates both servers, which binds their ports (nothing served yet)."""
    options = self.options
    on_loop = options.server_transport == 'event_loop'
    if on_loop:
      self.loop = event_loop.EventLoop()
      self.grpc_server = grpc_api.AsyncGrpcServer(
          self.core, self.metrics, self.loop, options.bind_address,
          options.port, options.grpc_max_threads,
          options.grpc_channel_arguments,
          options.enable_signature_method_name_check)
    else:
      self.grpc_server = grpc_api.GrpcServer(
          self.core, self.metrics, options.bind_address, options.port,
          options.grpc_max_threads, options.grpc_channel_arguments,
          options.enable_signature_method_name_check)
    if options.rest_api_port and options.rest_api_port == options.port:
      logging.error('server_options.http_port cannot be same as grpc_port. '
                    'Please use a different port for HTTP/REST API. '
                    'Skipped exporting HTTP/REST API.')
      return
    if not options.rest_api_port:
      return
    api = rest_api.RestApi(self.core, self.metrics,
                           options.rest_api_timeout_in_ms,
                           options.rest_api_enable_cors_support,
                           prometheus_path,
                           options.enable_signature_method_name_check)
    timeout_ms = options.rest_api_timeout_in_ms
    request_timeout = timeout_ms / 1000.0 if timeout_ms > 0 else None
    idle_timeout = options.rest_api_idle_timeout_in_ms / 1000.0
    if on_loop:
      self._rest_executor = event_loop.executor(
          options.rest_api_num_threads or server_config.default_rest_threads(),
          'rest_api')
      self.rest_server = rest_async.RestServer(
          api, self.loop, options.bind_address, options.rest_api_port,
          options.rest_api_max_body_bytes,
          max_connections=(options.rest_api_max_connections or
                           server_config.default_max_connections()),
          idle_timeout=idle_timeout, request_timeout=request_timeout,
          executor=self._rest_executor)
    else:
      self.rest_server = rest_server.RestServer(
          api, options.bind_address, options.rest_api_port,
          options.rest_api_max_body_bytes,
          max_connections=(options.rest_api_num_threads or
                           server_config.DEFAULT_REST_CONNECTIONS),
          idle_timeout=idle_timeout, request_timeout=request_timeout)

  def _prometheus_path(self) -> Optional[str]:
    if not self.options.monitoring_config_file:
      return None
    monitoring = server_config.read_monitoring_config(
        self.options.monitoring_config_file)
    if not monitoring.prometheus_config.enable:
      return None
    return (monitoring.prometheus_config.path or
            server_config.DEFAULT_PROMETHEUS_PATH)

  def stop(self) -> None:
    """Stops accepting requests, then unloads models; idempotent."""
    if self._stopped.is_set():
      return
    self._stopped.set()
    if self.rest_server is not None:
      self.rest_server.stop()
    if self.grpc_server is not None:
      self.grpc_server.stop()
    if self.core is not None:
      self.core.stop()
    if self.batcher is not None:
      self.batcher.stop()
    if self._rest_executor is not None:
      self._rest_executor.shutdown(wait=False)
    if self.loop is not None:
      self.loop.stop()

  def wait(self) -> None:
    self._stopped.wait()

  def __enter__(self) -> 'ModelServer':
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()


_EXAMPLES = """examples:
  # One model, both APIs (what `make serve` runs):
  python -m serving.model_server --port=8500 --rest_api_port=8501 \\
      --model_name=complaints --model_base_path=$PWD/output/serving/complaints

  # Several models, version labels, batching and Prometheus metrics:
  python -m serving.model_server --port=8500 --rest_api_port=8501 \\
      --model_config_file=serving/configs/models.config \\
      --model_config_file_poll_wait_seconds=60 \\
      --allow_version_labels_for_unavailable_models=true \\
      --enable_batching --batching_parameters_file=serving/configs/batching.config \\
      --monitoring_config_file=serving/configs/monitoring.config

  curl localhost:8501/v1/models/complaints
"""


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m serving.model_server',
      description='Model server with TensorFlow Serving\'s flags, REST and '
                  'gRPC APIs (a drop-in for tensorflow_model_server).',
      epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
  server_config.add_flags(parser)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  if args.version:
    print(f'TensorFlow ModelServer: {__version__}')
    return 0
  logging.basicConfig(level=logging.INFO,
                      format='%(asctime)s %(levelname)s %(message)s')
  options = server_config.options_from_args(args)
  server = ModelServer(options)
  try:
    server.start()
  except status.ServingError as e:
    print(f'Failed to start server. Error: {e.to_string()}', file=sys.stderr)
    return 255
  for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda *_: threading.Thread(target=server.stop).start())
  server.wait()
  return 0


if __name__ == '__main__':
  sys.exit(main())
