"""`python -m pipeline lineage` against what the e2e run actually did."""

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import E2E_ARGS, REPO

pytestmark = pytest.mark.e2e


def _cli(*args):
  """As a user runs it (only for the fast error paths: no TF import)."""
  return subprocess.run([sys.executable, '-m', 'pipeline', 'lineage', *args],
                        cwd=REPO, capture_output=True, text=True, timeout=600)


def _main(*argv):
  """The same CLI in-process: TensorFlow is imported once, not per call."""
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.main(['lineage', *argv])
  return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def lineage_json(e2e_run):
  code, out, err = _main('--output', str(e2e_run.output), '--json')
  assert code == 0, err[-3000:]
  return json.loads(out)


def test_default_is_the_version_actually_served(e2e_run, lineage_json):
  versions = sorted(os.listdir(e2e_run.serving_dir / 'complaints'))
  push = lineage_json['push']
  assert push['version'] == versions[-1] == e2e_run.summary['push']['version']
  assert push['destination'] == str(e2e_run.serving_dir / 'complaints' /
                                    versions[-1])
  assert push['run_id'] == e2e_run.summary['run_id']


def test_data_is_the_span_file_with_its_content_hash(e2e_run, lineage_json):
  data = lineage_json['data']
  span = e2e_run.summary['span']
  csv = e2e_run.output / 'input' / f'span-{span}' / 'complaints.csv'
  assert data['span'] == span
  assert [f['path'] for f in data['files']] == [str(csv)]
  assert data['sha256'] == hashlib.sha256(csv.read_bytes()).hexdigest()
  assert data['unchanged_since_ingestion'] is True
  assert data['rows_per_split'] == e2e_run.summary['rows_per_split']
  assert data['anomalies']['found'] == {}


def test_schema_transform_and_hyperparameters(lineage_json):
  from components import model  # pylint: disable=g-import-not-at-top
  assert lineage_json['schema']['source_file'] == str(
      REPO / 'pipeline' / 'schema' / 'schema.pbtxt')
  assert os.path.exists(os.path.join(lineage_json['schema']['uri'],
                                     'schema.pbtxt'))
  assert lineage_json['transform']['preprocessing_fn'] == (
      'components.transform.preprocessing_fn')
  assert os.path.isdir(lineage_json['transform']['graph_uri'])
  # The fixture runs with --no-tune: the Trainer used the defaults.
  assert '--no-tune' in E2E_ARGS
  assert lineage_json['hyperparameters']['source'].startswith('defaults')
  assert lineage_json['hyperparameters']['values'] == model.DEFAULT_HPARAMS


def test_training_steps_and_logged_loss(lineage_json):
  training = lineage_json['training']
  steps = int(E2E_ARGS[E2E_ARGS.index('--train-steps') + 1])
  assert training['train_steps'] == steps
  assert training['custom_config']['code_fingerprint']
  for part in ('train', 'validation'):
    assert 0.0 < training['logged'][part]['loss'] < 5.0


def test_evaluation_blessing_and_code(e2e_run, lineage_json):
  ev = lineage_json['evaluation']
  assert ev['baseline'] is None  # the first model had nothing to beat
  # (only without a baseline do summary.eval_metrics and the candidate's
  # metrics agree: the summary does not tell the two models apart)
  expected = e2e_run.summary['metrics']
  assert set(ev['metrics']) == set(expected)
  for name, values in expected.items():
    assert set(ev['metrics'][name]) == set(values), name
    for metric, value in values.items():  # auc_ci95 is a [low, high] list
      assert ev['metrics'][name][metric] == pytest.approx(
          value, nan_ok=True), (name, metric)
  assert ev['validation']['ok'] is True
  # The judge's rules (components/judge.py), not TFMA's point thresholds.
  assert {'metric': 'AUC', 'slice': 'Overall',
          'rule': 'lower bound of the 95% interval >= 0.65'} in ev['thresholds']
  assert ev['judgement']['blessed'] is True
  assert ev['judgement']['candidate_auc_ci95'][0] >= 0.65
  assert lineage_json['blessing']['blessed'] is True
  code = lineage_json['code']
  assert code['code_fingerprint_recorded'] == (
      lineage_json['training']['custom_config']['code_fingerprint'])
  for name, digest in code['components_sha256_now'].items():
    assert digest == hashlib.sha256(
        (REPO / 'components' / name).read_bytes()).hexdigest()
  head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO,
                        capture_output=True, text=True)
  if head.returncode == 0:
    assert code['git_now']['commit'] == head.stdout.strip()


def test_text_output_and_version_flag(e2e_run):
  version = e2e_run.summary['push']['version']
  code, out, err = _main('--output', str(e2e_run.output), '--version', version)
  assert code == 0, err[-3000:]
  assert f'=== lineage of pushed version {version} ===' in out
  assert 'baseline: none' in out
  assert 'rows per split: ' in out and 'train steps' in out


def test_unknown_version_and_missing_metadata_exit_2(e2e_run, tmp_path):
  proc = _cli('--output', str(e2e_run.output), '--version', '123')
  assert proc.returncode == 2
  assert 'no pushed model with version 123' in proc.stderr
  assert 'Traceback' not in proc.stderr
  proc = _cli('--output', str(tmp_path))
  assert proc.returncode == 2
  assert 'no ML Metadata' in proc.stderr and 'Traceback' not in proc.stderr
