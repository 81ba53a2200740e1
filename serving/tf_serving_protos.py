"""TF Serving's config protos that the `tensorflow-serving-api` wheel lacks.

The wheel ships `model_server_config.proto` (used as is, see server_config.py)
but not `session_bundle_config.proto` (BatchingParameters) nor
`monitoring_config.proto` (MonitoringConfig). Their schemas are rebuilt here
field by field (same package, message names, field names, numbers and types
as upstream), so `--batching_parameters_file` and `--monitoring_config_file`
are parsed by the same text-format rules as in `tensorflow_model_server`.

They live in a private descriptor pool, so they never clash with the real
modules if a future wheel starts shipping them (then those are used instead).
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory
from google.protobuf import wrappers_pb2

_PACKAGE = 'tensorflow.serving'
_F = descriptor_pb2.FieldDescriptorProto


def _field(message, name, number, ftype, type_name=None, repeated=False):
  field = message.field.add()
  field.name = name
  field.number = number
  field.type = ftype
  field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
  if type_name:
    field.type_name = type_name


def _build_file() -> descriptor_pb2.FileDescriptorProto:
  f = descriptor_pb2.FileDescriptorProto()
  f.name = 'serving/tf_serving_configs.proto'
  f.package = _PACKAGE
  f.syntax = 'proto3'
  f.dependency.append('google/protobuf/wrappers.proto')

  # session_bundle_config.proto: message BatchingParameters.
  b = f.message_type.add()
  b.name = 'BatchingParameters'
  int64 = '.google.protobuf.Int64Value'
  _field(b, 'max_batch_size', 1, _F.TYPE_MESSAGE, int64)
  _field(b, 'batch_timeout_micros', 2, _F.TYPE_MESSAGE, int64)
  _field(b, 'max_enqueued_batches', 3, _F.TYPE_MESSAGE, int64)
  _field(b, 'num_batch_threads', 4, _F.TYPE_MESSAGE, int64)
  _field(b, 'thread_pool_name', 5, _F.TYPE_MESSAGE,
         '.google.protobuf.StringValue')
  _field(b, 'allowed_batch_sizes', 6, _F.TYPE_INT64, repeated=True)
  _field(b, 'pad_variable_length_inputs', 7, _F.TYPE_BOOL)
  _field(b, 'enable_large_batch_splitting', 8, _F.TYPE_MESSAGE,
         '.google.protobuf.BoolValue')
  _field(b, 'max_execution_batch_size', 9, _F.TYPE_MESSAGE, int64)

  # monitoring_config.proto: PrometheusConfig and MonitoringConfig.
  p = f.message_type.add()
  p.name = 'PrometheusConfig'
  _field(p, 'enable', 1, _F.TYPE_BOOL)
  _field(p, 'path', 2, _F.TYPE_STRING)
  m = f.message_type.add()
  m.name = 'MonitoringConfig'
  _field(m, 'prometheus_config', 1, _F.TYPE_MESSAGE,
         f'.{_PACKAGE}.PrometheusConfig')
  return f


def _message_class(pool, full_name):
  descriptor = pool.FindMessageTypeByName(full_name)
  if hasattr(message_factory, 'GetMessageClass'):  # protobuf >= 4.21
    return message_factory.GetMessageClass(descriptor)
  return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def _load():
  try:  # Prefer upstream modules, should a wheel ever ship them.
    # pylint: disable=g-import-not-at-top
    from tensorflow_serving.config import monitoring_config_pb2
    from tensorflow_serving.servables.tensorflow import (
        session_bundle_config_pb2)
    return (session_bundle_config_pb2.BatchingParameters,
            monitoring_config_pb2.PrometheusConfig,
            monitoring_config_pb2.MonitoringConfig)
  except ImportError:
    pass
  pool = descriptor_pool.DescriptorPool()
  pool.Add(descriptor_pb2.FileDescriptorProto.FromString(
      wrappers_pb2.DESCRIPTOR.serialized_pb))
  pool.Add(_build_file())
  return tuple(_message_class(pool, f'{_PACKAGE}.{name}') for name in
               ('BatchingParameters', 'PrometheusConfig', 'MonitoringConfig'))


BatchingParameters, PrometheusConfig, MonitoringConfig = _load()
