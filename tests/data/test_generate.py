"""Tests of the generator: determinism, realism, and the known label model."""

import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from data import cfpb_export
from data import compare_real
from data import generate
from data import label_model
from data import metrics
from data import real_stats

ROWS = 20000
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir,
                                         os.pardir))


@pytest.fixture(scope='module')
def generated():
  return generate.generate(ROWS, seed=42)


@pytest.fixture(scope='module')
def real_window():
  return real_stats.window_rows(real_stats.load_real_rows())


def _labels(export):
  return (export['Consumer disputed?'] == 'Yes').to_numpy()


def test_export_layout(generated):
  export, truth = generated
  assert list(export.columns) == cfpb_export.EXPORT_COLUMNS
  assert len(export) == ROWS
  assert export.applymap(lambda v: isinstance(v, str)).all().all()
  assert set(export['Consumer disputed?']) == {'Yes', 'No'}
  assert list(truth.columns) == ['complaint_id', 'true_probability']


def test_label_rate_and_true_probabilities(generated):
  export, truth = generated
  labels = _labels(export)
  assert 0.17 <= labels.mean() <= 0.23
  ids = export['Complaint ID'].astype(int).to_numpy()
  assert len(set(ids)) == ROWS
  assert (truth['complaint_id'].to_numpy() == ids).all()
  p = truth['true_probability'].to_numpy()
  assert ((p > 0) & (p < 1)).all()
  assert abs(p.mean() - labels.mean()) < 0.01
  # Calibrated: in each probability band the label rate matches the mean p.
  for low, high in [(0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1)]:
    band = (p >= low) & (p < high)
    assert band.sum() > 500
    assert abs(labels[band].mean() - p[band].mean()) < 0.03


def test_best_achievable_auc_is_learnable_but_not_trivial(generated):
  export, truth = generated
  auc = metrics.best_achievable_auc(truth['true_probability'], _labels(export))
  assert 0.75 <= auc <= 0.85


def test_marginals_close_to_real(generated, real_window):
  export, _ = generated
  for column in ('Product', 'Company response to consumer', 'Issue', 'Tags'):
    distance = metrics.total_variation_distance(
        compare_real.share(export[column]), compare_real.share(
            real_window[column]))
    assert distance < 0.1, column
  real_states = compare_real.share(real_stats.load_real_rows()['State'])
  assert metrics.total_variation_distance(
      compare_real.share(export['State']), real_states) < 0.1


def test_dispute_rate_per_response_resembles_real(generated):
  export, _ = generated
  rate = pd.Series(_labels(export)).groupby(
      export['Company response to consumer'].to_numpy()).mean()
  # Real 2015-2017: monetary .09 < non-monetary .12 < explanation .18 < .29.
  assert (rate['Closed with monetary relief'] <
          rate['Closed with non-monetary relief'] <
          rate['Closed with explanation'] < rate['Closed'])
  assert rate['Closed with explanation'] == pytest.approx(0.2, abs=0.04)
  assert rate['Untimely response'] < 0.08 and rate['In progress'] < 0.08


def test_fields_look_like_the_export(generated):
  export, _ = generated
  text = export['Consumer complaint narrative']
  narrated = text != ''
  assert 0.3 <= narrated.mean() <= 0.45
  assert (export.loc[narrated, 'Consumer consent provided?'] ==
          'Consent provided').all()
  assert (export.loc[narrated, 'Submitted via'] == 'Web').all()
  assert not (export.loc[~narrated, 'Consumer consent provided?'] ==
              'Consent provided').any()
  assert (export.loc[narrated, 'Date received'] >= '2015-03-19').all()
  assert text[narrated].str.contains('XXXX').mean() > 0.5
  assert text[narrated].str.contains(r'\{\$[\d,]+\.\d\d\}').mean() > 0.15
  assert 0.1 < text[narrated].str.contains('\n').mean() < 0.5
  assert text[narrated].str.len().median() == pytest.approx(780, rel=0.15)
  zips = export['ZIP code']
  assert zips.str.fullmatch(r'\d{5}|\d{3}XX|').all()
  for pattern in (r'\d{5}', r'\d{3}XX', ''):
    assert zips.str.fullmatch(pattern).mean() > 0.01, pattern
  assert export['Date received'].between('2015-01-01', '2017-04-30').all()
  assert (export['Date sent to company'] >= export['Date received']).all()
  assert set(export['Tags']) == {'', 'Older American', 'Servicemember',
                                 'Older American, Servicemember'}
  assert {'Web', 'Referral', 'Phone', 'Postal mail'} <= set(
      export['Submitted via'])
  untimely = export['Company response to consumer'] == 'Untimely response'
  assert (export.loc[untimely, 'Timely response?'] == 'No').all()
  assert export['Company'].nunique() > 200  # Long tail of companies.


def test_phrases_raise_or_lower_the_dispute_rate(generated):
  export, _ = generated
  labels = _labels(export)
  lower = export['Consumer complaint narrative'].str.lower()
  narrated = (lower != '').to_numpy()
  raising = lower.str.contains(
      '|'.join(re.escape(p.key) for p in label_model.RAISING_PHRASES)
  ).to_numpy()
  lowering = lower.str.contains(
      '|'.join(re.escape(p.key) for p in label_model.LOWERING_PHRASES)
  ).to_numpy()
  plain = narrated & ~raising & ~lowering
  assert labels[raising & ~lowering].mean() > labels[plain].mean() + 0.2
  assert labels[lowering & ~raising].mean() < labels[plain].mean() - 0.05


def test_probability_depends_only_on_written_fields(tmp_path):
  paths = generate.ensure_generated(3000, 5, str(tmp_path))
  export = cfpb_export.read_export(paths.export_csv)
  truth = pd.read_csv(paths.true_probabilities_csv)
  assert len(export) == 3000
  assert (truth['complaint_id'].astype(str) == export['Complaint ID']).all()
  assert truth['true_probability'].between(0, 1, inclusive='neither').all()
  np.testing.assert_allclose(label_model.true_probability(export),
                             truth['true_probability'], atol=1e-6)


def _read(path):
  with open(path, 'rb') as f:
    return f.read()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
  first = generate.ensure_generated(3000, 7, str(tmp_path / 'a'))
  again = generate.ensure_generated(3000, 7, str(tmp_path / 'b'))
  other = generate.ensure_generated(3000, 8, str(tmp_path / 'c'))
  assert os.path.basename(first.export_csv) == 'complaints_3000_seed7.csv'
  assert os.path.basename(first.true_probabilities_csv) == (
      'true_probabilities_3000_seed7.csv')
  for name in ('export_csv', 'true_probabilities_csv'):
    assert _read(getattr(first, name)) == _read(getattr(again, name))
    assert _read(getattr(first, name)) != _read(getattr(other, name))


def test_ensure_generated_does_not_rewrite_and_repairs(tmp_path):
  out = str(tmp_path / 'generated')
  paths = generate.ensure_generated(2000, 3, out)
  assert paths.written
  original = {p: _read(p) for p in paths[:2]}
  for path in paths[:2]:
    os.utime(path, ns=(10**18, 10**18))
  before = {p: os.stat(p) for p in paths[:2]}

  assert not generate.ensure_generated(2000, 3, out).written
  for path in paths[:2]:
    assert os.stat(path).st_mtime_ns == before[path].st_mtime_ns
    assert os.stat(path).st_ino == before[path].st_ino

  with open(paths.export_csv, 'r+b') as f:  # A half-written file.
    f.truncate(len(original[paths.export_csv]) // 2)
  assert generate.ensure_generated(2000, 3, out).written
  assert _read(paths.export_csv) == original[paths.export_csv]
  assert os.stat(paths.true_probabilities_csv).st_mtime_ns == 10**18
  assert sorted(os.listdir(out)) == sorted(os.path.basename(p)
                                           for p in paths[:2])


def test_independent_of_hash_randomization():
  code = ('import hashlib; from data import generate as g; '
          'e, t = g.generate(1500, 11); '
          'print(hashlib.sha256(g.export_csv_bytes(e) + '
          'g.true_probabilities_csv_bytes(t)).hexdigest())')
  digests = set()
  for hash_seed in ('1', '2'):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=REPO_ROOT)
    digests.add(subprocess.run(
        [sys.executable, '-c', code], env=env, cwd=REPO_ROOT, check=True,
        capture_output=True, text=True).stdout.strip())
  export, truth = generate.generate(1500, 11)
  digests.add(hashlib.sha256(
      generate.export_csv_bytes(export) +
      generate.true_probabilities_csv_bytes(truth)).hexdigest())
  assert len(digests) == 1


def test_cli(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    generate.main(['--help'])
  assert exit_info.value.code == 0
  assert 'python -m data.generate --rows' in capsys.readouterr().out
  assert generate.main(['--rows', '1000', '--seed', '1', '--out',
                        str(tmp_path), '--json']) == 0
  summary = json.loads(capsys.readouterr().out)
  assert summary['rows'] == 1000 and summary['written']
  assert os.path.exists(summary['export_csv'])
  assert 0 < summary['disputed_rate'] < 1


def test_rows_must_be_positive():
  with pytest.raises(ValueError):
    generate.generate(0)
