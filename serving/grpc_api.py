"""TF Serving's gRPC services with the `tensorflow-serving-api` protos.

`PredictionService` (Predict, Classify, Regress, MultiInference,
GetModelMetadata) and `ModelService` (GetModelStatus,
HandleReloadConfigRequest) on `grpc.aio` on the server's event loop
(AsyncGrpcServer), or on grpcio's thread-pool server (GrpcServer, the
`--server_transport=threads` transport). Errors carry the
TensorFlow status code as the gRPC code (they share numbering), and the same
messages as TF Serving, so generated stubs and existing clients see no
difference.
"""

import concurrent.futures
import logging
import os
import time
from typing import List, Optional, Tuple

import grpc
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving import inference
from serving import status

_MAX_MESSAGE = 2**31 - 1  # TF Serving: SetMaxMessageSize(kint32max).
_MAX_ERROR_MESSAGE = 1024 * 4


# A call without a deadline reports its time remaining as about 2**63 ns
# (grpcio); beyond this it is taken as none (threading and event-loop
# timers cannot wait that long).
_NO_DEADLINE_SECONDS = 365 * 24 * 3600.0


def _deadline(context) -> Optional[float]:
  remaining = context.time_remaining()
  if remaining is None or remaining > _NO_DEADLINE_SECONDS:
    return None
  return time.monotonic() + remaining


def _truncated(message: str) -> str:
  if len(message) > _MAX_ERROR_MESSAGE:
    return message[:_MAX_ERROR_MESSAGE] + '...[truncated]'
  return message


def _abort(context, error: status.ServingError):
  context.abort(error.grpc_code, _truncated(error.message))


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
  """tensorflow.serving.PredictionService."""

  def __init__(self, core, metrics, check_method_names: bool = False):
    self._core = core
    self._metrics = metrics
    self._check = check_method_names

  def _call(self, api: Optional[str], spec, context, fn, log_kind=None,
            request=None):
    """Resolves `spec` to a servable, runs `fn` on it, maps errors/metrics.

    With `log_kind`, a successful call is offered to the model's request
    loggers (logging_config) with `request` and the response.
    """
    start = time.monotonic()
    code = status.OK
    try:
      if spec is None:
        raise status.invalid_argument('Missing ModelSpec')
      servable = self._core.servable(spec)
      response = fn(servable)
      if log_kind is not None:
        signature = ('' if log_kind == 'multi_inference'
                     else response.model_spec.signature_name)
        self._core.log_request(log_kind, servable, signature, request,
                               response)
      return response
    except status.ServingError as e:
      code = e.code
      _abort(context, e)
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('gRPC %s failed', api)
      code = status.INTERNAL
      _abort(context, status.internal(f'{type(e).__name__}: {e}'))
    finally:
      if api is not None:
        self._metrics.record_request(spec.name if spec is not None else '',
                                     api, 'GRPC', code,
                                     (time.monotonic() - start) * 1e6)

  def Predict(self, request, context):
    return self._call('Predict', request.model_spec, context,
                      lambda s: inference.predict(
                          s, request, _deadline(context),
                          self._core.options.max_tensor_elements),
                      'predict', request)

  def Classify(self, request, context):
    return self._call('Classify', request.model_spec, context,
                      lambda s: inference.classify(s, request,
                                                   _deadline(context),
                                                   self._check),
                      'classify', request)

  def Regress(self, request, context):
    return self._call('Regress', request.model_spec, context,
                      lambda s: inference.regress(s, request,
                                                  _deadline(context),
                                                  self._check),
                      'regress', request)

  def MultiInference(self, request, context):
    # The servable is found from the first task's spec, as in TF Serving.
    spec = (request.tasks[0].model_spec if request.tasks
            else request.tasks.add().model_spec)
    return self._call(None, spec, context,
                      lambda s: inference.multi_inference(
                          s, request, _deadline(context)),
                      'multi_inference', request)

  def GetModelMetadata(self, request, context):
    spec = request.model_spec if request.HasField('model_spec') else None
    return self._call(None, spec, context,
                      lambda s: inference.model_metadata(s, request))


class AsyncPredictionService(PredictionService):
  """PredictionService on grpc.aio: Predict runs on the event loop.

  Predict's decoding, checks and response are cheap and run on the loop;
  the model runs as a batch (the batcher's future) or, without batching,
  in the `executor` (--grpc_max_threads threads). The other methods stay
  blocking functions, which grpc.aio runs in the same executor.
  """

  def __init__(self, core, metrics, executor, check_method_names=False):
    super().__init__(core, metrics, check_method_names)
    self._executor = executor

  async def Predict(self, request, context):  # pylint: disable=invalid-overridden-method
    start = time.monotonic()
    error = None
    try:
      servable = self._core.servable(request.model_spec)
      signature, runner, inputs = inference.prepare_predict(
          servable, request, self._core.options.max_tensor_elements,
          check_values=False)
      outputs = await servable.run_async(runner, inputs, _deadline(context),
                                         self._executor, checked=False)
      response = inference.predict_response(servable, request, signature,
                                            outputs)
      self._core.log_request('predict', servable, signature, request,
                             response)
    except status.ServingError as e:
      error = e
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('gRPC Predict failed')
      error = status.internal(f'{type(e).__name__}: {e}')
    self._metrics.record_request(
        request.model_spec.name, 'Predict', 'GRPC',
        status.OK if error is None else error.code,
        (time.monotonic() - start) * 1e6)
    if error is not None:
      await context.abort(error.grpc_code, _truncated(error.message))
    return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
  """tensorflow.serving.ModelService."""

  def __init__(self, core):
    self._core = core

  def GetModelStatus(self, request, context):
    try:
      return self._core.model_status(request)
    except status.ServingError as e:
      _abort(context, e)

  def HandleReloadConfigRequest(self, request, context):
    response = model_management_pb2.ReloadConfigResponse()
    try:
      if request.config.WhichOneof('config') != 'model_config_list':
        raise status.invalid_argument(
            'ServerModelConfig type not supported by '
            'HandleReloadConfigRequest. Only ModelConfigList is currently '
            'supported')
      self._core.reload_config(request.config)
    except status.ServingError as e:
      logging.error('ReloadConfig failed: %s', e.message)
      response.status.error_code = e.grpc_code.value[0]
      response.status.error_message = e.message
      _abort(context, e)
    return response


def _channel_arguments(text: str) -> List[Tuple[str, object]]:
  """Parses --grpc_channel_arguments ('k=v,k2=v2'; ints become ints)."""
  arguments = []
  for item in filter(None, (part.strip() for part in text.split(','))):
    key, sep, value = item.partition('=')
    if not sep or not key.strip():
      raise status.invalid_argument(
          f'--grpc_channel_arguments: expected key=value, got {item!r}')
    key = key.strip()
    try:
      arguments.append((key, int(value)))
    except ValueError:
      arguments.append((key, value))
  return arguments


# RPCs in flight (running or queued) per worker thread: beyond it grpcio
# answers RESOURCE_EXHAUSTED instead of queueing without bound.
RPCS_PER_THREAD = 4


def default_threads() -> int:
  return max(32, 4 * (os.cpu_count() or 1))


def _server_options(channel_arguments: str) -> List[Tuple[str, object]]:
  options = {'grpc.max_receive_message_length': _MAX_MESSAGE,
             'grpc.max_send_message_length': _MAX_MESSAGE,
             'grpc.so_reuseport': 0}
  options.update(_channel_arguments(channel_arguments))
  return list(options.items())


def _workers(max_threads: int) -> int:
  if max_threads < 0:
    raise status.invalid_argument(
        f'--grpc_max_threads must be >= 0 (0 = auto), got {max_threads}')
  return max_threads or default_threads()


def _bind(server, host: str, port: int) -> int:
  try:
    bound = server.add_insecure_port(f'{host}:{port}')
  except RuntimeError:
    bound = 0
  if not bound:
    raise status.ServingError(status.UNAVAILABLE,
                              f'Failed to bind gRPC server to {host}:{port}')
  return bound


class GrpcServer:
  """A grpcio thread-pool server with both services on host:port (the
  `--server_transport=threads` transport).

  The port is bound here (before any model loads); `start` serves it.
  Bounds: --grpc_max_threads worker threads, RPCS_PER_THREAD times as many
  RPCs in flight, and TF Serving's message size (2 GiB - 1) unless
  --grpc_channel_arguments sets grpc.max_receive_message_length /
  grpc.max_send_message_length (the flag's values replace the defaults).
  """

  def __init__(self, core, metrics, host: str, port: int,
               max_threads: int = 0, channel_arguments: str = '',
               check_method_names: bool = False):
    workers = _workers(max_threads)
    self._server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                              thread_name_prefix='grpc'),
        options=_server_options(channel_arguments),
        maximum_concurrent_rpcs=RPCS_PER_THREAD * workers)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core, metrics, check_method_names), self._server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(core), self._server)
    self.port = _bind(self._server, host, port)

  def start(self) -> None:
    self._server.start()

  def stop(self, grace: float = 1.0) -> None:
    self._server.stop(grace).wait(timeout=grace + 5)


class AsyncGrpcServer:
  """Both services on grpc.aio, on the shared event loop.

  Same bounds as GrpcServer: --grpc_max_threads threads for the work that
  blocks (RPCs other than Predict, and Predict's model run without
  batching), RPCS_PER_THREAD times as many RPCs in flight (beyond them
  RESOURCE_EXHAUSTED), and the message sizes. Connections and RPCs waiting
  on the network cost no thread.
  """

  def __init__(self, core, metrics, loop, host: str, port: int,
               max_threads: int = 0, channel_arguments: str = '',
               check_method_names: bool = False):
    workers = _workers(max_threads)
    self._loop = loop
    self._executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix='grpc')
    options = _server_options(channel_arguments)

    async def create():
      server = grpc.aio.server(
          migration_thread_pool=self._executor, options=options,
          maximum_concurrent_rpcs=RPCS_PER_THREAD * workers)
      prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
          AsyncPredictionService(core, metrics, self._executor,
                                 check_method_names), server)
      model_service_pb2_grpc.add_ModelServiceServicer_to_server(
          ModelService(core), server)
      return server, _bind(server, host, port)

    try:
      self._server, self.port = loop.run(create())
    except BaseException:
      self._executor.shutdown(wait=False)
      raise

  def start(self) -> None:
    self._loop.run(self._server.start())

  def stop(self, grace: float = 1.0) -> None:
    try:
      self._loop.run(self._server.stop(grace), timeout=grace + 5)
    except Exception:  # pylint: disable=broad-except
      logging.debug('gRPC server stop', exc_info=True)
    self._executor.shutdown(wait=False)
