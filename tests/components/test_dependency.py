"""Mean |attribution| and permutation importance on scores whose
dependency is known by construction."""

import numpy as np
import pytest

from components import dependency
from components import features


def test_groups_shuffle_stand_ins_together_and_keep_the_order():
  keys = features.RAW_FEATURES
  groups = dependency.groups_of(keys)
  assert (features.PRODUCT, features.SUB_PRODUCT) in groups
  assert (features.STATE, features.ZIP_CODE) in groups
  assert (features.COMPANY,) in groups
  assert sorted(k for g in groups for k in g) == sorted(keys)
  assert groups[0] == (features.PRODUCT, features.SUB_PRODUCT)
  # A spec without sub-products keeps product alone.
  assert dependency.groups_of(['product', 'state']) == [('product',),
                                                        ('state',)]


def test_mean_abs_attribution_with_its_interval_by_hand():
  attributions = np.array([[1.0, -2.0], [-3.0, 0.0], [2.0, 2.0],
                           [-2.0, 0.0]])
  found = dependency.attribution_summary(
      attributions, ['a', 'b'], {'s': np.array(['x', 'x', 'y', 'y'])})
  by_name = {r['feature']: r for r in found['features']}
  # |a|: 1, 3, 2, 2: mean 2, sd sqrt(2/3); half-width 1.96 sd / 2.
  assert by_name['a']['mean_abs'] == pytest.approx(2.0)
  half = dependency.Z95 * np.sqrt(2 / 3) / 2
  assert by_name['a']['ci95'] == [pytest.approx(2 - half),
                                  pytest.approx(2 + half)]
  assert by_name['b']['mean_abs'] == pytest.approx(1.0)
  assert [r['feature'] for r in found['features']] == ['a', 'b']
  assert found['slices']['s']['y']['mean_abs']['a'][0] == pytest.approx(2.0)
  assert found['slices']['s']['x']['mean_abs']['b'][0] == pytest.approx(1.0)


def test_groups_sum_their_members_before_the_absolute_value():
  # Two members that cancel: the group's attribution is 0 on every row.
  attributions = np.array([[1.0, -1.0, 0.5], [-2.0, 2.0, -0.5]])
  found = dependency.attribution_summary(
      attributions, ['p', 'q', 'r'], {}, groups=[('p', 'q'), ('r',)])
  by_name = {r['feature']: r['mean_abs'] for r in found['groups']}
  assert by_name == {'p+q': 0.0, 'r': 0.5}


def test_multiclass_magnitudes_are_the_mean_over_classes():
  attributions = np.zeros((2, 1, 3))
  attributions[0, 0] = [1.0, -1.0, 0.0]
  attributions[1, 0] = [0.0, 0.0, 3.0]
  found = dependency.attribution_summary(attributions, ['a'], {},
                                         classes=['x', 'y', 'z'])
  assert found['features'][0]['mean_abs'] == pytest.approx(5 / 6)
  assert found['per_class']['z']['a'] == pytest.approx(1.5)


def test_permutation_importance_of_a_score_that_reads_one_column():
  """The score is a function of `signal` alone: shuffling `noise` changes
  nothing (drop exactly 0, interval [0, 0]); shuffling `signal` costs
  AUC; `copy` (the signal again) shuffled alone costs nothing, but with
  `signal` in one group it costs as much as the signal does."""
  rng = np.random.default_rng(0)
  rows = 400
  signal = rng.normal(size=rows)
  labels = (signal + rng.normal(scale=0.5, size=rows) > 0).astype(int)
  columns = {'signal': signal, 'copy': signal.copy(),
             'noise': rng.normal(size=rows)}

  def score(values):
    return 1 / (1 + np.exp(-2 * values['signal']))

  found = dependency.permutation_importance(
      score, columns, labels, [('noise',), ('signal',)], repeats=3,
      resamples=50, seed=1)
  by_name = {r['feature']: r for r in found['features']}
  assert by_name['noise']['auc_drop'] == 0.0
  assert by_name['noise']['auc_drop_ci95'] == [pytest.approx(0.0, abs=1e-12)
                                               ] * 2
  assert by_name['noise']['log_loss_rise'] == 0.0
  signal_drop = by_name['signal']['auc_drop']
  assert signal_drop > 0.3 and by_name['signal']['auc_drop_ci95'][0] > 0.2
  assert by_name['signal']['log_loss_rise_ci95'][0] > 0
  # Shuffled, the score ranks by chance: what is left is about 0.5.
  assert found['base_auc'] - signal_drop == pytest.approx(0.5, abs=0.1)

  def score_by_copy(values):
    return 1 / (1 + np.exp(-(values['signal'] + values['copy'])))

  grouped = dependency.permutation_importance(
      score_by_copy, columns, labels, [('copy',), ('signal', 'copy')],
      repeats=3, resamples=50, seed=1)
  by_name = {r['feature']: r for r in grouped['features']}
  assert by_name['signal+copy']['members'] == ['signal', 'copy']
  assert by_name['signal+copy']['auc_drop'] > by_name['copy']['auc_drop']
  assert by_name['signal+copy']['auc_drop'] > 0.3


@pytest.mark.parametrize('classes', [2, 3])
def test_weighted_aucs_are_the_aucs_of_the_resampled_rows(classes):
  """One sort for every resample: the same as resampling the rows and
  computing each AUC from scratch (scikit-learn's roc_auc_score), ties
  included (scores rounded to a few levels)."""
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(4)
  rows = 120
  labels = rng.integers(0, classes, size=rows)
  if classes == 2:
    scores = np.round(rng.random(rows) * 0.5 + 0.3 * labels, 1)
  else:
    scores = rng.dirichlet(np.ones(classes), size=rows)
  draws = rng.integers(0, rows, size=(20, rows))
  weights = np.stack([np.bincount(d, minlength=rows) for d in draws])
  found = dependency.weighted_aucs(labels, scores, weights)
  expected = [roc_auc_score(labels[d], scores[d], multi_class='ovr',
                            average='macro') if classes > 2
              else roc_auc_score(labels[d], scores[d]) for d in draws]
  np.testing.assert_allclose(found, expected, atol=1e-12)
