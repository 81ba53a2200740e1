"""The model analysis in the report, the card, lineage and --json, rendered
from an analysis made by the real functions on rows built by hand (no
pipeline run)."""

import json

import numpy as np

from components import dependency
from components import fairness
from components import model_analysis
from pipeline.reports import analysis_text
from pipeline.reports import model_card
from tests.pipeline.reports import fixtures


def _analysis(multiclass=False):
  """Two features: `a` moves the score, `b` barely; state A is flagged at
  0.8 of its negatives, state B at 0.2."""
  rng = np.random.default_rng(2)
  rows = 200
  labels = np.array(([0] * 50 + [1] * 50) * 2)
  state = np.array(['A'] * 100 + ['B'] * 100)
  attributions = np.stack([rng.normal(scale=1.0, size=rows),
                           rng.normal(scale=0.1, size=rows)], axis=1)
  flagged = np.zeros(rows, bool)
  flagged[:40] = flagged[50:100] = flagged[100:110] = flagged[150:] = True
  columns = {'a': attributions[:, 0], 'b': attributions[:, 1]}
  if multiclass:
    attributions = np.stack([attributions, -attributions, attributions],
                            axis=2)
    scores = np.stack([np.where(flagged, 0.2, 0.7), np.where(
        flagged, 0.7, 0.2), np.full(rows, 0.1)], axis=1)
    classes = ['x', 'y', 'z']
  else:
    scores, classes = np.where(flagged, 0.9, 0.1), []

  def score(values):
    if multiclass:
      return scores
    return 1 / (1 + np.exp(-values['a']))
  found = {'rows': rows, 'features': ['a', 'b'], 'classes': classes or None,
           'attributions': dict(
               dependency.attribution_summary(attributions, ['a', 'b'],
                                              {'state': state},
                                              classes=classes),
               method='exact', reference_rows=rows,
               approximation_error={'mean': 0.0, 'max': 0.0}),
           'permutation_importance': dependency.permutation_importance(
               score, columns, labels, [('a',), ('b',)], repeats=2,
               resamples=20),
           'fairness': fairness.fairness(scores, labels, {'state': state},
                                         0.5, classes)}
  found['fairness']['flagged'] = fairness.flagged_gaps(found['fairness'])
  return model_analysis.finite(found)


def test_report_section_shows_dependency_with_intervals_and_gaps():
  found = _analysis()
  html = analysis_text.html_section(found)
  top = found['attributions']['features'][0]
  assert top['feature'] == 'a'
  assert f"{top['ci95'][0]:.3f} to {top['ci95'][1]:.3f}" in html
  assert html.count('<svg') == 2  # dependency and permutation importance
  assert '95% interval' in html and 'whisker' not in html
  assert 'Errors per group at the decision threshold' in html
  # The FPR gap 0.8 - 0.2 is flagged and shown as such.
  assert '<td>A - B</td>' in html and '+0.600' in html
  assert 'class="bad"' in html
  assert 'No model analysis' in analysis_text.html_section(None)
  # A slice of one row has no interval (None in the JSON): '-'.
  found['attributions']['slices']['state']['C'] = {
      'rows': 1, 'mean_abs': {'a': [0.5, None, None], 'b': [0.1, None, None]}}
  assert '<td>0.500 (-)</td>' in analysis_text.html_section(found)


def test_card_and_lineage_lines():
  found = _analysis()
  card = model_card.render(dict(fixtures.trail(), analysis=found),
                           'complaints', '/out')
  assert '## Dependency on the features' in card
  assert '## Errors per group' in card
  assert card.index('## Errors per group') < card.index('## Limitations')
  assert '| state | FPR | A - B | +0.600 |' in card
  assert 'Dependency' not in model_card.render(fixtures.trail(),
                                               'complaints', '/out')
  text = '\n'.join(analysis_text.text_lines(found))
  assert 'mean |attribution|: a ' in text
  assert 'flagged gaps: state FPR A - B +0.600' in text


def test_multiclass_per_class_rates_render():
  found = _analysis(multiclass=True)
  html = analysis_text.html_section(found)
  assert 'class x: rates per slice of state' in html
  card = '\n'.join(analysis_text.card_lines(found))
  assert '| class y |' in card
  assert set(found['attributions']['per_class']) == {'x', 'y', 'z'}


def test_compact_is_strict_json_without_the_slice_tables():
  found = _analysis()
  found['permutation_importance']['base_auc'] = float('nan')
  small = model_analysis.compact(model_analysis.finite(found))
  text = json.dumps(small, allow_nan=False)
  assert 'slices' not in small['attributions']
  assert 'slices' not in small['fairness'] and small['fairness']['gaps']
  assert json.loads(text)['permutation_importance']['base_auc'] is None
  assert small['fairness']['flagged'][0]['rate'] == 'false_positive_rate'


def test_the_terminal_summary_names_the_top_features_and_flagged_gaps():
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  text = summary_text.render({
      'run_id': 'r', 'span': 1, 'input_csv': 'x.csv', 'components': [],
      'wall_seconds': 1.0,
      'analysis': model_analysis.compact(_analysis())})
  assert ('depends most on: a, b; error-rate gaps between groups flagged: 2'
          in text)
