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


def _tfma_metrics(evaluation_uri):
  """{slice: {metric: value}} as TFMA wrote them, read with TFMA's own
  reader (not pipeline.metadata.evaluation, which lineage and the run
  summary share): 'Overall' or 'column:value' per slice, as lineage names
  them."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  found = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    parts = []
    for key in per_slice.slice_key.single_slice_keys:
      value = getattr(key, key.WhichOneof('kind'))
      parts.append('%s:%s' % (key.column, value.decode()
                              if isinstance(value, bytes) else value))
    values = found.setdefault(','.join(parts) or 'Overall', {})
    for kv in per_slice.metric_keys_and_values:
      assert not kv.key.model_name and not kv.key.is_diff  # no baseline
      if kv.value.HasField('double_value'):
        values[kv.key.name] = kv.value.double_value.value
  return found


def _hanley_mcneil(auc, positives, negatives, z=1.96):
  """Hanley & McNeil (1982), written out here (not data.metrics)."""
  q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
  se = ((auc * (1 - auc) + (positives - 1) * (q1 - auc ** 2) +
         (negatives - 1) * (q2 - auc ** 2)) / (positives * negatives)) ** 0.5
  return [max(0.0, auc - z * se), min(1.0, auc + z * se)]


def test_evaluation_blessing_and_code(e2e_run, lineage_json):
  ev = lineage_json['evaluation']
  assert ev['baseline'] is None  # the first model had nothing to beat
  # The Evaluator's own output, read here: every slice and metric TFMA
  # wrote, with the same values; TFMA's AUC of 0 on a one-class slice is
  # left out (undefined), every other AUC carries its 95% interval.
  assert ev['uri'].startswith(str(e2e_run.output / 'pipeline_root'))
  written = _tfma_metrics(ev['uri'])
  assert 'Overall' in written and len(written) > 1  # and the slices
  assert set(ev['metrics']) == set(written)
  for name, values in written.items():
    shown = ev['metrics'][name]
    count = values['example_count']
    positives = round(values['mean_label'] * count)
    one_class = positives in (0, count)
    assert set(shown) == ((set(values) - {'auc'}) if one_class
                          else (set(values) | {'auc_ci95'})), name
    for metric, value in values.items():
      if metric in shown:
        assert shown[metric] == pytest.approx(value, nan_ok=True), (name,
                                                                     metric)
    if not one_class:
      assert shown['auc_ci95'] == pytest.approx(_hanley_mcneil(
          values['auc'], positives, count - positives)), name
  # The run summary (`run --json`) reads the Evaluator's output the same way
  # as lineage (so it is no check of the numbers): both show the same.
  summary = e2e_run.summary['metrics']
  assert set(summary) == set(ev['metrics'])
  for name, values in summary.items():
    assert set(values) == set(ev['metrics'][name]), name
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
  # The tests run in a git checkout (CI runs them in a fresh clone): the
  # commit is always checked, never skipped.
  head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO,
                        capture_output=True, text=True, check=False)
  assert head.returncode == 0, f'not a git checkout? {head.stderr}'
  assert code['git_now']['commit'] == head.stdout.strip()
  assert code['git_now']['dirty'] in (True, False)


def test_git_version_of_a_repository_made_here(tmp_path, monkeypatch):
  """lineage.git_version on a repository this test makes: its commit, clean,
  dirty after a tracked file changes (not after an untracked one), and
  nothing outside a repository."""
  from pipeline.metadata import lineage  # pylint: disable=g-import-not-at-top
  # No repository above tmp_path counts (git would search upwards).
  monkeypatch.setenv('GIT_CEILING_DIRECTORIES', str(tmp_path))
  outside = tmp_path / 'outside'
  outside.mkdir()
  assert lineage.git_version(str(outside)) == {'commit': None, 'dirty': None}
  repo = tmp_path / 'repo'
  repo.mkdir()

  def git(*args):
    return subprocess.run(
        ['git', '-C', str(repo), '-c', 'user.name=test', '-c',
         'user.email=test@example.com', '-c', 'commit.gpgsign=false', *args],
        capture_output=True, text=True, check=True).stdout.strip()
  git('init', '-q')
  (repo / 'tracked.txt').write_text('one\n')
  git('add', 'tracked.txt')
  git('commit', '-q', '-m', 'first')
  commit = git('rev-parse', 'HEAD')
  assert len(commit) == 40
  assert lineage.git_version(str(repo)) == {'commit': commit, 'dirty': False}
  (repo / 'untracked.txt').write_text('new\n')
  assert lineage.git_version(str(repo))['dirty'] is False
  (repo / 'tracked.txt').write_text('two\n')
  assert lineage.git_version(str(repo)) == {'commit': commit, 'dirty': True}
  git('commit', '-q', '-am', 'second')
  second = lineage.git_version(str(repo))
  assert second['commit'] != commit and second['dirty'] is False


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
