"""deploy/kubernetes/: valid against the Kubernetes API schemas, and the same
flags and configuration files the local server (serving/) runs with.

The schemas come with kubernetes-validate (pinned in constraints.txt), so the
check is offline; no cluster is needed or contacted.
"""

import argparse
import copy
import dataclasses
import http.client
import os
import re
import socket
import time

import kubernetes_validate
import pytest
import yaml

import components  # noqa: F401  (the stack's settings before TF loads)
from serving import example_models
from serving import model_server
from serving import server_config
from tests.conftest import REPO

FOLDER = REPO / 'deploy' / 'kubernetes'
# The oldest Kubernetes minor still in upstream support when pinned, and the
# newest whose schemas kubernetes-validate 1.37.0 ships.
KUBERNETES_VERSIONS = ('1.32.0', '1.37.0')
APP = 'complaints-serving'
MODEL = 'complaints'
STATUS_PATH = f'/v1/models/{MODEL}'
CONFIG_MOUNT = '/etc/tfs'


def manifests():
  """Every Kubernetes object in the folder (the kustomization is not one)."""
  found = []
  for path in sorted(FOLDER.glob('*.yaml')):
    if path.name == 'kustomization.yaml':
      continue
    found += [(path.name, doc) for doc in
              yaml.safe_load_all(path.read_text()) if doc]
  return found


def objects(kind):
  return {doc['metadata']['name']: doc for _, doc in manifests()
          if doc['kind'] == kind}


def deployments():
  found = objects('Deployment')
  return {d['metadata']['labels']['track']: d for d in found.values()}


def container(deployment):
  only, = deployment['spec']['template']['spec']['containers']
  return only


def config_data():
  return objects('ConfigMap')['complaints-serving-config']['data']


def flags_of(deployment) -> argparse.Namespace:
  """The container's arguments parsed by the local server's own flags."""
  parser = argparse.ArgumentParser(exit_on_error=False)
  server_config.add_flags(parser)
  args, unknown = parser.parse_known_args(container(deployment)['args'])
  assert not unknown, unknown
  return args


@pytest.mark.parametrize('version', KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_api_schemas(version):
  found = manifests()
  assert {doc['kind'] for _, doc in found} == {
      'ConfigMap', 'PersistentVolumeClaim', 'Deployment', 'Service'}
  for name, doc in found:
    try:
      kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
      pytest.fail(f'{name} {doc["kind"]} {doc["metadata"]["name"]}: '
                  f'{error.message} at {list(error.path)}')


@pytest.mark.parametrize('break_it', [
    lambda d: d['spec']['template']['spec']['containers'][0][
        'readinessProbe']['httpGet'].update(paht='/v1/models/complaints'),
    lambda d: d['spec']['template']['spec']['containers'][0].update(
        ports=[{'containerPort': '8501'}]),
    lambda d: d['spec'].pop('selector'),
], ids=['misspelt field', 'port as a string', 'no selector'])
def test_the_schema_check_rejects_a_broken_deployment(break_it):
  broken = copy.deepcopy(deployments()['canary'])
  break_it(broken)
  with pytest.raises(kubernetes_validate.ValidationError):
    kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_kustomization_lists_every_manifest():
  listed = yaml.safe_load((FOLDER / 'kustomization.yaml').read_text())
  assert sorted(listed['resources']) == sorted(
      p.name for p in FOLDER.glob('*.yaml') if p.name != 'kustomization.yaml')


def test_the_image_is_tensorflow_serving_at_the_pinned_version():
  pins = dict(line.split('==') for line in
              (REPO / 'constraints.txt').read_text().split() if '==' in line)
  for deployment in deployments().values():
    assert container(deployment)['image'] == (
        f'tensorflow/serving:{pins["tensorflow-serving-api"]}')
    assert container(deployment)['command'] == ['tensorflow_model_server']


def test_stable_and_canary_differ_only_in_track_version_replicas_config():
  tracks = deployments()
  assert set(tracks) == {'stable', 'canary'}
  assert tracks['stable']['spec']['replicas'] > tracks['canary']['spec'][
      'replicas'] >= 1

  def normalized(deployment):
    doc = copy.deepcopy(deployment)
    track = doc['metadata']['labels']['track']
    for labels in (doc['metadata']['labels'],
                   doc['spec']['template']['metadata']['labels']):
      labels.pop('track'), labels.pop('model-version')
    doc['spec']['selector']['matchLabels'].pop('track')
    doc['metadata'].pop('name'), doc['spec'].pop('replicas')
    args = container(doc)['args']
    args[args.index(f'--model_config_file={CONFIG_MOUNT}/models-{track}'
                    '.config')] = 'CONFIG'
    return doc

  assert normalized(tracks['stable']) == normalized(tracks['canary'])
  assert tracks['stable']['metadata']['labels']['model-version'] != (
      tracks['canary']['metadata']['labels']['model-version'])


def test_labels_selectors_and_services_fit_together():
  services = objects('Service')
  for track, deployment in deployments().items():
    template = deployment['spec']['template']['metadata']['labels']
    assert template['app.kubernetes.io/name'] == APP
    assert template['track'] == track
    assert template['model-version'] == deployment['metadata']['labels'][
        'model-version']
    assert re.fullmatch(r'\d+', template['model-version'])
    selector = deployment['spec']['selector']['matchLabels']
    assert selector.items() <= template.items()
    assert selector['track'] == track  # the tracks never share pods
    assert services[APP]['spec']['selector'].items() <= template.items()
    canary_service = services[f'{APP}-canary']['spec']['selector']
    assert (canary_service.items() <= template.items()) == (track == 'canary')
    ports = {p['name']: p['containerPort'] for p in container(deployment)[
        'ports']}
    for service in services.values():
      for port in service['spec']['ports']:
        assert port['targetPort'] in ports


def test_each_track_serves_the_version_its_label_names(tmp_path):
  for track, deployment in deployments().items():
    name = f'models-{track}.config'
    (tmp_path / name).write_text(config_data()[name])
    config = server_config.read_model_server_config(str(tmp_path / name))
    model, = config.model_config_list.config
    assert model.name == MODEL and model.model_platform == 'tensorflow'
    assert list(model.model_version_policy.specific.versions) == [
        int(deployment['metadata']['labels']['model-version'])]
    mount, = [m for m in container(deployment)['volumeMounts']
              if model.base_path.startswith(m['mountPath'] + '/')]
    assert mount['name'] == 'models' and mount['readOnly']


def test_flags_and_config_files_are_the_local_servers(tmp_path):
  """Every flag is one `python -m serving.model_server` takes; the batching
  and monitoring configs are serving/configs/'s."""
  data = config_data()
  for name in ('batching.config', 'monitoring.config'):
    (tmp_path / name).write_text(data[name])
  assert server_config.read_batching_parameters(
      str(tmp_path / 'batching.config')) == server_config \
      .read_batching_parameters(str(REPO / 'serving/configs/batching.config'))
  monitoring = server_config.read_monitoring_config(
      str(tmp_path / 'monitoring.config'))
  assert monitoring == server_config.read_monitoring_config(
      str(REPO / 'serving/configs/monitoring.config'))
  for track, deployment in deployments().items():
    args = flags_of(deployment)
    ports = {p['name']: p['containerPort']
             for p in container(deployment)['ports']}
    assert (args.port, args.rest_api_port) == (ports['grpc'], ports['http'])
    assert args.model_config_file == f'{CONFIG_MOUNT}/models-{track}.config'
    for flag in ('model_config_file', 'batching_parameters_file',
                 'monitoring_config_file'):
      assert getattr(args, flag).removeprefix(CONFIG_MOUNT + '/') in data
    assert args.enable_batching is True
    annotations = deployment['spec']['template']['metadata']['annotations']
    assert annotations['prometheus.io/path'] == (
        monitoring.prometheus_config.path)
    assert int(annotations['prometheus.io/port']) == args.rest_api_port


def test_probes_ask_the_model_status_endpoint_on_the_rest_port():
  for deployment in deployments().values():
    spec = container(deployment)
    for probe in ('startupProbe', 'readinessProbe', 'livenessProbe'):
      assert spec[probe]['httpGet'] == {'path': STATUS_PATH, 'port': 'http'}
    # Liveness gives up later than readiness: a slow pod leaves the
    # Service before it is restarted.
    live, ready = spec['livenessProbe'], spec['readinessProbe']
    assert (live['periodSeconds'] * live['failureThreshold'] >
            ready['periodSeconds'] * ready['failureThreshold'])


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def get(port, path):
  conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
  try:
    conn.request('GET', path)
    response = conn.getresponse()
    return response.status, response.read().decode()
  finally:
    conn.close()


def test_the_local_server_runs_the_canary_and_answers_its_probe(tmp_path):
  """The canary's own args and ConfigMap, paths moved under tmp_path: the
  probe's endpoint is 404 before the version exists, 200 with it AVAILABLE
  once it is pushed, and the stable version next to it is not loaded."""
  canary, stable = deployments()['canary'], deployments()['stable']
  data = config_data()
  models = tmp_path / 'models'
  config_dir = tmp_path / 'etc'
  config_dir.mkdir()
  for name, text in data.items():
    (config_dir / name).write_text(text.replace('"/models/', f'"{models}/'))
  args = flags_of(canary)
  for flag in ('model_config_file', 'batching_parameters_file',
               'monitoring_config_file'):
    setattr(args, flag, getattr(args, flag).replace(CONFIG_MOUNT,
                                                    str(config_dir)))
  options = dataclasses.replace(
      server_config.options_from_args(args), port=free_port(),
      rest_api_port=free_port(), bind_address='127.0.0.1',
      file_system_poll_wait_seconds=1)
  version = int(canary['metadata']['labels']['model-version'])
  old = int(stable['metadata']['labels']['model-version'])

  def push(number):  # as the Pusher does: the version folder appears whole
    staging = tmp_path / 'staging'
    example_models.write_half_plus_two(str(staging), number)
    (models / MODEL).mkdir(parents=True, exist_ok=True)
    os.rename(staging / str(number), models / MODEL / str(number))

  push(old)
  server = model_server.ModelServer(options).start()
  try:
    status, _ = get(server.rest_port, STATUS_PATH)
    assert status == 404  # not ready: the canary's version is not there
    push(version)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
      status, body = get(server.rest_port, STATUS_PATH)
      if status == 200 and '"AVAILABLE"' in body:
        break
      time.sleep(0.2)
    assert status == 200, body
    assert f'"version": "{version}"' in body and f'"{old}"' not in body
    status, body = get(server.rest_port, '/monitoring/prometheus/metrics')
    assert status == 200 and 'tensorflow' in body
  finally:
    server.stop()
