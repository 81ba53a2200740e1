"""Warmup replay (TF Serving's assets.extra/tf_serving_warmup_requests)."""

import os

from serving_helpers import call, deploy, wait_for
from serving import example_models
from serving import prometheus
from serving import servable as servable_lib
from serving import warmup


def test_warmup_replays_every_record(models):
  servable = servable_lib.Servable('hpt', 1, models['hpt_v1'])
  servable.load()
  metrics = prometheus.Metrics()
  assert warmup.run_warmup(servable, 2, metrics) == 3
  assert metrics.warmup_latency.count(models['hpt_v1'], 'OK') == 1


def test_corrupt_warmup_file_fails_the_load(models, tmp_path, start_server):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  server = start_server(model_name='hpt', model_base_path=str(base),
                        file_system_poll_wait_seconds=1)
  staging = tmp_path / 'staging'
  version = example_models.write_half_plus_two(str(staging), 2, b=3.0)
  path = os.path.join(version, warmup.WARMUP_FILE)
  os.makedirs(os.path.dirname(path))
  with open(path, 'wb') as f:
    f.write(b'this is not a TFRecord file' * 3)
  os.rename(version, base / '2')

  def status_of_2():
    body = call(server.rest_port, 'GET', '/v1/models/hpt/versions/2')[1]
    return body and 'model_version_status' in body and (
        body['model_version_status'][0])

  state = wait_for(lambda: (status_of_2() or {}).get('state') == 'END' and
                   status_of_2())
  assert state['status']['error_code'] == 'DATA_LOSS'
  assert 'Please verify your warmup data is in TFRecord format' in (
      state['status']['error_message'])
  assert call(server.rest_port, 'POST', '/v1/models/hpt:predict',
              {'instances': [1.0]}) == (200, {'predictions': [2.5]})
