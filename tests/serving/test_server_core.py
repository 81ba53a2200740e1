"""Versions, policies, labels, reloads and broken version directories."""

import os
import re
import shutil
import threading

import grpc
import numpy as np
from google.protobuf import text_format
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from serving_helpers import call, deploy, wait_for
from serving import server_config
from serving import status

X = [1.0]
VALUE = {2.5: 1, 3.5: 2}  # y(1.0) per version: b=2 (v1), b=3 (v2).


def rest_value(server, path='/v1/models/hpt'):
  code, body = call(server.rest_port, 'POST', path + ':predict',
                    {'instances': X})
  return code, body


def versions(server, name='hpt'):
  code, body = call(server.rest_port, 'GET', f'/v1/models/{name}')
  if code != 200:
    return {}
  return {int(s['version']): (s['state'], s['status']['error_code'])
          for s in body['model_version_status']}


def grpc_predict(stub, label=None, version=None, name='hpt'):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = name
  if label:
    request.model_spec.version_label = label
  if version:
    request.model_spec.version.value = version
  request.inputs['x'].CopyFrom(tf.make_tensor_proto(np.array(X, np.float32)))
  response = stub.Predict(request, timeout=10)
  return (response.model_spec.version.value,
          float(tf.make_ndarray(response.outputs['y'])[0]))


def test_hot_swap_under_load_has_zero_failed_requests(models, tmp_path,
                                                      start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  server = start_server(model_name='hpt', model_base_path=str(base),
                        file_system_poll_wait_seconds=1)
  channel = grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}')
  stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
  stop = threading.Event()
  # Set once version 1 is unloaded: every request started after it must be
  # answered by version 2 (requests already running may finish on 1).
  swapped = threading.Event()
  seen, failures = [], []  # seen: (protocol, version, started after swap)

  def rest_load():
    while not stop.is_set():
      after = swapped.is_set()
      code, body = rest_value(server)
      if code != 200:
        failures.append(body)
      else:
        seen.append(('rest', VALUE[body['predictions'][0]], after))

  def grpc_load():
    while not stop.is_set():
      after = swapped.is_set()
      try:
        version, value = grpc_predict(stub)
        assert VALUE[value] == version
        seen.append(('grpc', version, after))
      except Exception as e:  # pylint: disable=broad-except
        failures.append(repr(e))

  def served(version, after=None, count=1):
    # Each protocol has been answered `count` times by `version`; a failed
    # request ends the wait at once (it is reported below).
    def met():
      if failures:
        return True
      got = [p for p, v, a in list(seen)
             if v == version and after in (None, a)]
      return all(got.count(p) >= count for p in ('rest', 'grpc'))
    return met

  threads = [threading.Thread(target=f) for f in (rest_load, rest_load,
                                                  grpc_load, grpc_load)]
  for t in threads:
    t.start()
  try:
    wait_for(served(1), timeout=60)  # The load runs on version 1 first.
    deploy(models['hpt_v2'], base, 2)
    wait_for(lambda: failures or versions(server) == {
        2: ('AVAILABLE', 'OK'), 1: ('END', 'OK')}, timeout=60)
    swapped.set()
    wait_for(served(2, after=True, count=10), timeout=60)
  finally:
    stop.set()
    for t in threads:
      t.join()
    channel.close()
  assert not failures
  assert {v for _, v, _ in seen} == {1, 2}
  assert {p for p, v, _ in seen if v == 2} == {'rest', 'grpc'}
  assert {v for _, v, after in seen if after} == {2}
  # Version 2 was warmed up before it took traffic.
  v2_path = str(base / '2')
  assert server.metrics.warmup_latency.count(v2_path, 'OK') == 1


def test_version_policies(models, tmp_path, start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  deploy(models['hpt_v2'], base, 2)
  config_path = tmp_path / 'models.config'
  config_path.write_text(f'''
model_config_list {{
  config {{
    name: "hpt" base_path: "{base}" model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
  }}
}}''')
  server = start_server(model_config_file=str(config_path),
                        file_system_poll_wait_seconds=0)
  assert versions(server) == {1: ('AVAILABLE', 'OK'), 2: ('AVAILABLE', 'OK')}
  assert rest_value(server) == (200, {'predictions': [3.5]})  # latest
  assert rest_value(server, '/v1/models/hpt/versions/1') == (
      200, {'predictions': [2.5]})

  channel = grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}')
  models_stub = model_service_pb2_grpc.ModelServiceStub(channel)

  def reload(policy_text):
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name='hpt', base_path=str(base), model_platform='tensorflow')
    text_format.Parse(policy_text, model.model_version_policy)
    return models_stub.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=60)

  assert reload('specific { versions: 1 }').status.error_code == 0
  assert versions(server) == {1: ('AVAILABLE', 'OK'), 2: ('END', 'OK')}
  assert rest_value(server) == (200, {'predictions': [2.5]})
  reload('latest { num_versions: 1 }')
  assert versions(server) == {2: ('AVAILABLE', 'OK'), 1: ('END', 'OK')}
  channel.close()


def test_labels_route_stable_and_canary(models, tmp_path, start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  deploy(models['hpt_v2'], base, 2)
  config_path = tmp_path / 'models.config'
  server_config.write_model_server_config(str(config_path), [{
      'name': 'hpt', 'base_path': str(base), 'versions': [1, 2],
      'labels': {'stable': 1, 'canary': 2}}])
  # Like TF Serving, labels in the startup config need this flag.
  with pytest.raises(status.ServingError) as info:
    start_server(model_config_file=str(config_path),
                 file_system_poll_wait_seconds=0)
  assert re.fullmatch(  # Either label may be checked first (a proto map).
      r'Request to assign label to version [12] of model hpt, which is not '
      r'currently available for inference', info.value.message)
  server = start_server(model_config_file=str(config_path),
                        file_system_poll_wait_seconds=0,
                        allow_version_labels_for_unavailable_models=True)
  assert rest_value(server, '/v1/models/hpt/labels/stable') == (
      200, {'predictions': [2.5]})
  assert rest_value(server, '/v1/models/hpt/labels/canary') == (
      200, {'predictions': [3.5]})
  code, body = call(server.rest_port, 'GET',
                    '/v1/models/hpt/labels/canary/metadata')
  assert body['model_spec']['version'] == '2'
  channel = grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}')
  stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
  assert grpc_predict(stub, label='stable') == (1, 2.5)
  assert grpc_predict(stub, label='canary') == (2, 3.5)
  # Promote the canary: move `stable` to version 2 without a restart.
  server_config.write_model_server_config(str(config_path), [{
      'name': 'hpt', 'base_path': str(base), 'versions': [1, 2],
      'labels': {'stable': 2, 'canary': 2}}])
  server.core.reload_config(
      server_config.read_model_server_config(str(config_path)))
  assert grpc_predict(stub, label='stable') == (2, 3.5)
  # A label on a version that is not loaded is refused; nothing changes.
  bad = server_config.read_model_server_config(str(config_path))
  bad.model_config_list.config[0].version_labels['stable'] = 7
  models_stub = model_service_pb2_grpc.ModelServiceStub(channel)
  with pytest.raises(grpc.RpcError) as info:
    models_stub.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=bad), timeout=30)
  assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
  assert grpc_predict(stub, label='stable') == (2, 3.5)
  channel.close()


def test_corrupt_and_half_written_versions_are_skipped(models, tmp_path,
                                                       start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  server = start_server(model_name='hpt', model_base_path=str(base),
                        file_system_poll_wait_seconds=1)
  corrupt = base / '2'
  corrupt.mkdir()
  (corrupt / 'saved_model.pb').write_bytes(b'\xff\xff\xff garbage' * 10)
  state = wait_for(lambda: versions(server).get(2, (None,))[0] == 'END' and
                   versions(server))
  assert state[2][0] == 'END' and state[2][1] != 'OK' 
  assert state[1] == ('AVAILABLE', 'OK')
  assert rest_value(server) == (200, {'predictions': [2.5]})
  code, body = call(server.rest_port, 'GET', '/v1/models/hpt/versions/2')
  assert body['model_version_status'][0]['status']['error_message']
  # Half-written: the copy has not reached saved_model.pb yet.
  half = base / '3'
  (half / 'variables').mkdir(parents=True)
  wait_for(lambda: versions(server).get(3) == ('END', 'NOT_FOUND'))
  assert rest_value(server) == (200, {'predictions': [2.5]})
  # Once the files are complete the version loads and takes over.
  for name in os.listdir(models['hpt_v2']):
    src = os.path.join(models['hpt_v2'], name)
    if os.path.isdir(src):
      shutil.copytree(src, half / name, dirs_exist_ok=True)
    else:
      shutil.copy(src, half / name)
  wait_for(lambda: versions(server).get(3) == ('AVAILABLE', 'OK'), timeout=60)
  assert rest_value(server) == (200, {'predictions': [3.5]})


def test_config_file_polling_adds_models(models, tmp_path, start_server):
  base1, base2 = tmp_path / 'one', tmp_path / 'two'
  deploy(models['hpt_v1'], base1, 1)
  deploy(models['hpt_v2'], base2, 2)
  config_path = tmp_path / 'models.config'
  server_config.write_model_server_config(
      str(config_path), [{'name': 'one', 'base_path': str(base1)}])
  server = start_server(model_config_file=str(config_path),
                        model_config_file_poll_wait_seconds=1,
                        file_system_poll_wait_seconds=0)
  assert call(server.rest_port, 'GET', '/v1/models/two')[0] == 404
  server_config.write_model_server_config(
      str(config_path), [{'name': 'one', 'base_path': str(base1)},
                         {'name': 'two', 'base_path': str(base2)}])
  wait_for(lambda: versions(server, 'two') == {2: ('AVAILABLE', 'OK')})
  assert rest_value(server, '/v1/models/two') == (200, {'predictions': [3.5]})
  # Dropping a model from the config unloads it.
  server_config.write_model_server_config(
      str(config_path), [{'name': 'two', 'base_path': str(base2)}])
  wait_for(lambda: rest_value(server, '/v1/models/one')[0] == 404)


def test_concurrent_reloads_and_requests(models, tmp_path, start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  deploy(models['hpt_v2'], base, 2)
  server = start_server(model_name='hpt', model_base_path=str(base),
                        file_system_poll_wait_seconds=0)
  channel = grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}')
  models_stub = model_service_pb2_grpc.ModelServiceStub(channel)
  errors = []

  def reload(i):
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name='hpt', base_path=str(base), model_platform='tensorflow')
    model.model_version_policy.specific.versions.append(1 + i % 2)
    try:
      models_stub.HandleReloadConfigRequest(
          model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
    except grpc.RpcError as e:
      errors.append(e)

  def requests():
    for _ in range(30):
      code, body = rest_value(server)
      if code != 200:
        errors.append(body)

  threads = [threading.Thread(target=reload, args=(i,)) for i in range(6)]
  threads += [threading.Thread(target=requests) for _ in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors
  assert rest_value(server)[0] == 200
  channel.close()


def test_reload_rejects_invalid_configs(models, tmp_path, start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  server = start_server(model_name='hpt', model_base_path=str(base),
                        file_system_poll_wait_seconds=0)
  channel = grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}')
  models_stub = model_service_pb2_grpc.ModelServiceStub(channel)
  config = model_server_config_pb2.ModelServerConfig()
  for _ in range(2):
    config.model_config_list.config.add(name='hpt', base_path=str(base),
                                        model_platform='tensorflow')
  with pytest.raises(grpc.RpcError) as info:
    models_stub.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=30)
  assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
  assert info.value.details() == (
      'Illegal to list model hpt multiple times in config list')
  assert rest_value(server) == (200, {'predictions': [2.5]})
  channel.close()
