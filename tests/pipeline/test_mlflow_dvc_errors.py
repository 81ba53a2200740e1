"""MLflow and DVC bad input, and what one run becomes in MLflow (fast tier).

Every mistake is one line on stderr and exit 2 before anything is written:
a --data-rev without --data-repo, a revision or path the repository does
not have, a tracking server that does not answer (the promotion's config
file untouched); with no flag and no MLFLOW_TRACKING_URI nothing is sent.
The real server and a real DVC repository: test_mlflow_dvc.py.
"""

import math
import os
import socket
import subprocess
import sys

import pytest

from pipeline import cli
from pipeline.tracking import mlflow_record
from pipeline.tracking import mlflow_rest
from tests.conftest import REPO, cli_in_process


def _closed_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture
def nowhere(monkeypatch):
  """An http URI where nothing listens, and no MLFLOW_TRACKING_URI."""
  monkeypatch.delenv(mlflow_rest.ENV_TRACKING_URI, raising=False)
  return f'http://127.0.0.1:{_closed_port()}'


def _git_repo(folder):
  """A git repository with data/complaints.csv in git, not in DVC."""
  repo = folder / 'repo'
  (repo / 'data').mkdir(parents=True)
  (repo / 'data' / 'complaints.csv').write_text('a,b\n1,2\n')
  for args in (['init', '-q'], ['add', '-A'],
               ['-c', 'user.name=t', '-c', 'user.email=t@example.com',
                'commit', '-q', '-m', 'data']):
    subprocess.run(['git', '-C', str(repo), *args], check=True)
  return repo


def _one_line_error(proc, wanted: str) -> None:
  assert proc.returncode == 2, (proc.stdout, proc.stderr)
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr
  assert wanted in lines[0], lines[0]


@pytest.mark.parametrize('args, wanted', [
    (['--data-rev', 'v1', '--data', 'x.csv'],
     '--data-rev REV needs --data-repo DIR'),
    (['--data-repo', '{repo}'], '--data-repo needs --data PATH'),
    (['--data-repo', '{repo}', '--data', '/abs/x.csv'],
     'a path inside the repository'),
    (['--data-repo', '{tmp}/missing', '--data', 'x.csv'], 'no such folder'),
    (['--data-repo', '{tmp}', '--data', 'x.csv'], 'is not a git repository'),
    (['--data-repo', '{repo}', '--data-rev', 'v9', '--data',
      'data/complaints.csv'], '--data-rev v9: no such revision in'),
    (['--data-repo', '{repo}', '--data', 'data/complaints.csv'],
     'data/complaints.csv is not tracked by DVC at'),
], ids=['rev without repo', 'repo without data', 'absolute data',
        'no repo folder', 'not git', 'unknown revision', 'not in DVC'])
def test_bad_data_versions_are_one_line_and_write_nothing(tmp_path, args,
                                                          wanted):
  repo = _git_repo(tmp_path)
  output = tmp_path / 'out'
  argv = [a.format(repo=repo, tmp=tmp_path) for a in args]
  _one_line_error(cli_in_process('run', '--output', output, *argv), wanted)
  assert not output.exists()


def test_an_unreachable_tracking_server_is_one_line_and_writes_nothing(
    tmp_path, nowhere):
  output = tmp_path / 'out'
  for argv in (['run', '--output', output, '--mlflow-tracking-uri', nowhere],
               ['run', '--output', output, '--mlflow', nowhere],
               ['mlflow-sync', '--output', output, '--mlflow-tracking-uri',
                nowhere],
               ['loop', '--output', output, '--mlflow-tracking-uri',
                nowhere]):
    _one_line_error(cli_in_process(*argv),
                    f'cannot reach the MLflow tracking server at {nowhere}')
  assert not output.exists()


def test_mlflow_tracking_uri_is_the_default_as_in_mlflow(tmp_path, nowhere,
                                                         monkeypatch):
  monkeypatch.setenv(mlflow_rest.ENV_TRACKING_URI, nowhere)
  _one_line_error(cli_in_process('mlflow-sync', '--output', tmp_path),
                  f'cannot reach the MLflow tracking server at {nowhere}')


def test_nothing_is_sent_without_a_flag_or_the_variable(tmp_path, nowhere):
  parser = cli.build_parser()
  for argv in (['run'], ['loop'], ['mlflow-sync']):
    assert cli._mlflow_client(parser.parse_args(argv)) is None  # pylint: disable=protected-access
  _one_line_error(cli_in_process('mlflow-sync', '--output', tmp_path),
                  'mlflow-sync needs --mlflow-tracking-uri URI')


def test_only_an_http_tracking_server_is_accepted(tmp_path):
  _one_line_error(cli_in_process('mlflow-sync', '--output', tmp_path,
                                 '--mlflow-tracking-uri', 'file:///tmp/mlruns'),
                  'must be http(s)://HOST:PORT of a tracking server')


def test_promote_refuses_an_unreachable_server_before_moving_a_label(
    tmp_path, nowhere):
  from serving import server_config  # pylint: disable=g-import-not-at-top
  config = tmp_path / 'models.config'
  server_config.write_model_server_config(str(config), [{
      'name': 'complaints', 'base_path': str(tmp_path / 'complaints'),
      'versions': [1, 2], 'labels': {'stable': 1, 'canary': 2}}])
  before = config.read_text()
  proc = subprocess.run(
      [sys.executable, '-m', 'serving.promote', '--model_config_file',
       str(config), '--mlflow-tracking-uri', nowhere],
      cwd=REPO, capture_output=True, text=True, timeout=120,
      env={k: v for k, v in os.environ.items()
           if k != mlflow_rest.ENV_TRACKING_URI})
  _one_line_error(proc, 'cannot reach the MLflow tracking server')
  assert config.read_text() == before


RUN = {
    'run_id': '2026-12-07T10:56:57.282385', 'status': 'complete',
    'blessed': True, 'pushed_version': '17',
    'data': {'span': 2, 'sha256': 'ab' * 32,
             'rows_per_split': {'train': 400, 'eval': 100},
             'sources': [{'path': 'data/c.csv', 'repo': '/r', 'rev': 'v2',
                          'commit': 'c' * 40, 'dvc_md5': 'd' * 32,
                          'sha256': 'e' * 64}]},
    'hyperparameters': {'tuned': True, 'values': {'learning_rate': 0.003}},
    'training': {'train_steps': 10, 'eval_steps': 50,
                 'custom_config': {'seed': 42, 'code_fingerprint': 'f00'},
                 'stack': {'tfx': '1.16.0'},
                 'history': {'steps_per_epoch': 5, 'history': {
                     'loss': [0.7, 0.6], 'val_auc': [0.6, float('nan')]}}},
    'evaluation': {
        'baseline': {'pushed_version': '12'},
        'judgement': {'min_auc': 0.65, 'reason': 'AUC 0.71: blessed'},
        'metrics': {'Overall': {'auc': 0.71, 'auc_ci95': [0.6, 0.8],
                                'precision': float('nan')},
                    "product:Payday loan, title loan": {'auc': 0.5}}}}


def test_a_runs_record_in_mlflow_terms():
  params = mlflow_record.params(RUN, git_commit='abc123')
  assert params['config.train_steps'] == '10'
  assert params['config.seed'] == '42' and params['config.min_auc'] == '0.65'
  assert params['hparams.learning_rate'] == '0.003'
  assert params['hparams.tuned'] == 'True'
  assert params['data.span'] == '2' and params['data.sha256'] == 'ab' * 32
  assert params['data.rows.eval'] == '100'
  assert params['data.source.rev'] == 'v2'
  assert params['data.source.dvc_md5'] == 'd' * 32
  assert params['code.git_commit'] == 'abc123'
  assert params['stack.tfx'] == '1.16.0'
  metrics = {(m['key'], m['step']): m['value']
             for m in mlflow_record.metrics(RUN, 1000)}
  assert metrics[('auc', 0)] == 0.71
  assert metrics[('auc_ci95_lower', 0)] == 0.6
  assert metrics[('auc_ci95_upper', 0)] == 0.8
  # MLflow's keys allow letters, digits, _-. :/ only; NaN is not stored.
  assert metrics[('slice/product:Payday loan_ title loan/auc', 0)] == 0.5
  assert not any(k.startswith('precision') for k, _ in metrics)
  assert all(math.isfinite(v) for v in metrics.values())
  assert metrics[('training/loss', 5)] == 0.7
  assert metrics[('training/loss', 10)] == 0.6
  assert ('training/val_auc', 10) not in metrics
  tags = mlflow_record.tags(RUN)
  assert tags == {'mlmd.run_id': RUN['run_id'], 'status': 'complete',
                  'blessed': 'true', 'pushed_version': '17',
                  'baseline': '12', 'mlflow.note.content': 'AUC 0.71: blessed',
                  'data_rev': 'v2'}
