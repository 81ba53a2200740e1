"""`python -m serving.promote`: the A/B test's end, on a running server."""

import subprocess
import sys

import pytest

from serving_helpers import call, deploy, wait_for
from serving import server_config

REPO = __import__('pathlib').Path(__file__).resolve().parents[2]


def _promote(*args):
  return subprocess.run([sys.executable, '-m', 'serving.promote', *args],
                        cwd=REPO, capture_output=True, text=True, timeout=120)


def _stable_value(server):
  code, body = call(server.rest_port, 'POST',
                    '/v1/models/hpt/labels/stable:predict',
                    {'instances': [1.0]})
  assert code == 200, body
  return body['predictions'][0]


@pytest.fixture
def labelled(models, tmp_path):
  base = tmp_path / 'hpt'
  deploy(models['hpt_v1'], base, 1)   # y(1) = 2.5
  deploy(models['hpt_v2'], base, 2)   # y(1) = 3.5
  config = tmp_path / 'models.config'
  server_config.write_model_server_config(str(config), [{
      'name': 'hpt', 'base_path': str(base), 'versions': [1, 2],
      'labels': {'stable': 1, 'canary': 2}}])
  return config


def test_promotion_moves_stable_without_a_restart(labelled, start_server):
  server = start_server(model_config_file=str(labelled),
                        model_config_file_poll_wait_seconds=1,
                        file_system_poll_wait_seconds=0,
                        allow_version_labels_for_unavailable_models=True)
  assert _stable_value(server) == 2.5
  proc = _promote('--model_config_file', str(labelled), '--model_name', 'hpt')
  assert proc.returncode == 0, proc.stderr
  assert 'stable 1 -> 2' in proc.stdout
  wait_for(lambda: _stable_value(server) == 3.5, timeout=20)
  config = server_config.read_model_server_config(str(labelled))
  [model] = config.model_config_list.config
  assert dict(model.version_labels) == {'stable': 2, 'canary': 2}
  assert list(model.model_version_policy.specific.versions) == [1, 2]


@pytest.mark.parametrize('args, expected', [
    (['--model_name', 'other'], "has no model 'other' (it has: hpt)"),
    (['--model_name', 'hpt', '--from', 'blue'], "has no label 'blue'"),
])
def test_bad_promotions_change_nothing(labelled, args, expected):
  before = labelled.read_bytes()
  proc = _promote('--model_config_file', str(labelled), *args)
  assert proc.returncode == 2
  assert proc.stderr.startswith('error: ') and expected in proc.stderr
  assert len(proc.stderr.splitlines()) == 1
  assert labelled.read_bytes() == before


def test_an_unreadable_config_is_one_line(tmp_path):
  bad = tmp_path / 'models.config'
  bad.write_text('model_config_list { config { name: ')
  proc = _promote('--model_config_file', str(bad))
  assert proc.returncode == 2 and 'cannot read' in proc.stderr
  assert 'Traceback' not in proc.stderr
