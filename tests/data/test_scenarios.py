"""Tests of the drift scenarios of `python -m data.generate`.

Each scenario must change what it states, by the amount it states, and
nothing else. The expected numbers are the scenario table's
(docs/monitoring.md, data/scenarios.py), written here again: a test that
read them from the code would pass whatever the code did. Measured shares
are compared with them within Z binomial standard errors computed from the
stated share and the number of rows; features a scenario must not touch are
compared with the default data within the two-sample noise of their measured
shares.
"""

import hashlib
import json
import math
import os
import re

import numpy as np
import pandas as pd
import pytest

from data import cfpb_export
from data import generate
from data import label_model
from data import real_stats
from data import scenarios

ROWS = 10000
SEED = 42
# Tolerances in standard errors. Z for fields that must not change: one
# comparison exceeds it by chance with probability 6e-7, and there are a few
# thousand (every value of every field). Z_STATED for the few dozen stated
# numbers (6e-5 each), tighter so that a change 2 points off is caught.
Z = 5.0
Z_STATED = 4.0
# Two-sample Kolmogorov-Smirnov critical value at alpha = 0.001.
KS_C = 1.95

# --- The stated changes (the scenario table of docs/monitoring.md). ---
PRODUCT_TARGETS = {'Credit reporting': 0.40, 'Student loan': 0.15}
CHANNEL_TARGETS = {'Referral': 0.30, 'Phone': 0.15}
NEW_RESPONSE = 'Closed without relief'
NEW_RESPONSE_SHARE = 0.15
LENGTH_FACTOR = 1.5
REWORDED = {  # old key -> new key, same weight
    'this is the second time': 'already complained about this once before',
    'they never responded': 'ever got an answer',
    'not satisfied with their response':
        'their reply did not resolve anything',
    'still waiting for them': 'the error is still on my account',
    'give me a straight answer':
        'every representative told me something different',
    'they resolved the issue': 'the matter was finally fixed',
    'thank you for your help': 'appreciate the cfpb looking into this',
    'apologized and refunded': 'returned to my account with an apology',
}
# Label model terms: value -> (logit before, logit under concept drift).
RESPONSE_LOGIT_CHANGE = {
    'Closed with monetary relief': (-1.05, 0.8),
    'Closed with non-monetary relief': (-0.75, 0.5),
}
PRODUCT_LOGIT_CHANGE = {
    'Credit reporting': (-0.45, 0.6),
    'Mortgage': (0.3, -0.5),
}

PRODUCT_TOUCHES = {'Product', 'Sub-product', 'Issue', 'Sub-issue', 'Company'}
CHANNEL_TOUCHES = {'Submitted via', 'Consumer consent provided?'}
# The export columns each scenario may change (besides the label).
TOUCHED = {
    'product_shift': PRODUCT_TOUCHES,
    'channel_shift': CHANNEL_TOUCHES,
    'product_channel_shift': PRODUCT_TOUCHES | CHANNEL_TOUCHES,
    'new_response': {'Company response to consumer', 'Timely response?'},
    'narrative_wording': {'Consumer complaint narrative'},
    'concept_drift': set(),
}
NARRATIVE = 'Consumer complaint narrative'
LABEL = 'Consumer disputed?'
# Compared by their shares of values; the narrative by presence and length.
CATEGORICAL_COLUMNS = [c for c in cfpb_export.EXPORT_COLUMNS
                       if c not in ('Complaint ID', LABEL, NARRATIVE)]

# sha256 of the export and true-probability CSVs written by the generator
# before scenarios and spans existed (commit cd4995c), for (rows, seed).
DEFAULT_DIGESTS = {
    (1, 42): ('f4abbbe72309e6c7a513258f3fe8679c33c6a8816e2f3801238bef3ffc50459c',
              'd920863940181e0acde457803a675690f6f14cc165b1f83b082f7113d4e31c38'),
    (3000, 7): ('4d232a4d3d1887a8172566eb186e9d2da20f1f7be2bfea8d41154dcced7a9cbb',
                '61d41be8f68c57a2b2ea454a8e88c1c678cfee614770dbc422dfbcb61bb5a978'),
    (4000, 42): ('a9c8b467758093eff4b25c2dbf39bb066dbefdcc3b58e7aa34cc776f92177274',
                 '52aa20d11d87ce5d5df88dda6d807aaa67c4b535a86160aaea30defc6aa6de16'),
}


@pytest.fixture(scope='module')
def default():
  return generate.generate(ROWS, SEED)


_CACHE = {}


def drifted(name):
  if name not in _CACHE:
    _CACHE[name] = generate.generate(ROWS, SEED, name)
  return _CACHE[name]


@pytest.fixture(scope='module')
def tables():
  return real_stats.load_tables()


def _sha(path):
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def _shares(values):
  return pd.Series(values).value_counts(normalize=True)


def _marginal(distribution, position):
  """Share of each value at `position` of a Categorical of tuples."""
  out = {}
  for value, p in zip(distribution.values, distribution.probs):
    out[value[position]] = out.get(value[position], 0.0) + p
  return out


def assert_share(measured, stated, n, what):
  """`measured` is `stated` within Z_STATED binomial standard errors."""
  tolerance = Z_STATED * math.sqrt(stated * (1 - stated) / n) + 1.0 / n
  assert abs(measured - stated) <= tolerance, (
      '%s: measured %.4f, stated %.4f, tolerance %.4f' %
      (what, measured, stated, tolerance))


def assert_same_shares(a, b, what):
  """Every value's share in a and b agree within two-sample noise."""
  share_a, share_b = _shares(a), _shares(b)
  for value in share_a.index.union(share_b.index):
    pa, pb = share_a.get(value, 0.0), share_b.get(value, 0.0)
    pooled = (pa * len(a) + pb * len(b)) / (len(a) + len(b))
    tolerance = Z * math.sqrt(pooled * (1 - pooled) * (
        1.0 / len(a) + 1.0 / len(b))) + 2.0 / min(len(a), len(b))
    assert abs(pa - pb) <= tolerance, (
        '%s = %r: %.4f vs %.4f, tolerance %.4f' %
        (what, value, pa, pb, tolerance))


def ks_distance(a, b):
  a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
  grid = np.union1d(a, b)
  return np.max(np.abs(np.searchsorted(a, grid, side='right') / len(a) -
                       np.searchsorted(b, grid, side='right') / len(b)))


def assert_same_distribution(a, b, what):
  limit = KS_C * math.sqrt(1.0 / len(a) + 1.0 / len(b))
  distance = ks_distance(a, b)
  assert distance <= limit, '%s: KS %.4f > %.4f' % (what, distance, limit)


def quantile_interval(values, q, z):
  """A distribution-free interval for the q-quantile (order statistics)."""
  values = np.sort(np.asarray(values, float))
  n = len(values)
  half = z * math.sqrt(n * q * (1 - q))
  low = int(max(0, math.floor(n * q - half)))
  high = int(min(n - 1, math.ceil(n * q + half)))
  return values[low], values[high]


def _lengths(export):
  text = export[NARRATIVE]
  return text[text != ''].str.len().to_numpy()


def _labels(export):
  return (export[LABEL] == 'Yes').to_numpy()


def _logit(p):
  p = np.asarray(p, float)
  return np.log(p / (1 - p))


def assert_calibrated(labels, probability, what):
  """The label rate is the mean true probability within Bernoulli noise."""
  labels = np.asarray(labels, float)
  probability = np.asarray(probability, float)
  noise = math.sqrt(np.sum(probability * (1 - probability))) / len(labels)
  assert abs(labels.mean() - probability.mean()) <= Z * noise, (
      '%s: label rate %.4f, mean probability %.4f, tolerance %.4f' %
      (what, labels.mean(), probability.mean(), Z * noise))


# --- Today's behaviour. ---


@pytest.mark.parametrize('rows,seed', sorted(DEFAULT_DIGESTS))
def test_default_is_byte_identical_to_the_generator_before_scenarios(
    rows, seed, tmp_path):
  for scenario, span, folder in ((None, 0, 'a'), ('none', 0, 'b')):
    paths = generate.ensure_generated(rows, seed, str(tmp_path / folder),
                                      scenario=scenario, span=span)
    assert os.path.basename(paths.export_csv) == (
        'complaints_%d_seed%d.csv' % (rows, seed))
    assert os.path.basename(paths.true_probabilities_csv) == (
        'true_probabilities_%d_seed%d.csv' % (rows, seed))
    assert (_sha(paths.export_csv), _sha(paths.true_probabilities_csv)) == (
        DEFAULT_DIGESTS[rows, seed])


def test_default_cli_is_byte_identical(tmp_path, capsys):
  assert generate.main(['--rows', '3000', '--seed', '7', '--scenario', 'none',
                        '--span', '0', '--out', str(tmp_path), '--json']) == 0
  summary = json.loads(capsys.readouterr().out)
  assert summary['scenario'] is None and summary['span'] == 0
  assert (_sha(summary['export_csv']),
          _sha(summary['true_probabilities_csv'])) == DEFAULT_DIGESTS[3000, 7]


# --- The scenarios' stated changes. ---


def test_every_scenario_is_listed_in_help(capsys):
  with pytest.raises(SystemExit) as exit_info:
    generate.main(['--help'])
  assert exit_info.value.code == 0
  text = re.sub(r'\s+', ' ', capsys.readouterr().out)
  assert set(scenarios.SCENARIOS) == set(TOUCHED)
  for name, scenario in scenarios.SCENARIOS.items():
    assert ' %s %s' % (name, scenario.summary) in text, name
  assert ' none no change (default)' in text


@pytest.mark.parametrize('name', ['product_shift', 'product_channel_shift'])
def test_product_mix_moves_by_the_stated_shares(name, default, tables):
  export, _ = drifted(name)
  real = _marginal(tables.taxonomy, 0)
  measured = _shares(export['Product'])
  # The stated shift is a few tens of percent of the mix.
  assert max(abs(PRODUCT_TARGETS[p] - real[p]) for p in PRODUCT_TARGETS) > 0.15
  for product, stated in PRODUCT_TARGETS.items():
    assert_share(measured.get(product, 0.0), stated, ROWS, product)
  rest = (1 - sum(PRODUCT_TARGETS.values())) / (
      1 - sum(real[p] for p in PRODUCT_TARGETS))
  for product, share in real.items():
    if product not in PRODUCT_TARGETS:
      assert_share(measured.get(product, 0.0), share * rest, ROWS, product)
  # A product keeps its real issues and companies.
  for product in ('Credit reporting', 'Mortgage'):
    for column in ('Issue', 'Company'):
      assert_same_shares(
          export.loc[export['Product'] == product, column],
          default[0].loc[default[0]['Product'] == product, column],
          '%s | %s' % (column, product))


@pytest.mark.parametrize('name', ['channel_shift', 'product_channel_shift'])
def test_channel_mix_moves_by_the_stated_shares(name, default, tables):
  export, _ = drifted(name)
  channel = export['Submitted via']
  narrated = (export[NARRATIVE] != '').to_numpy()
  before = _shares(default[0]['Submitted via'])
  assert max(abs(CHANNEL_TARGETS[c] - before[c]) for c in CHANNEL_TARGETS) > (
      0.15)
  measured = _shares(channel)
  for value, stated in CHANNEL_TARGETS.items():
    assert_share(measured.get(value, 0.0), stated, ROWS, value)
  assert (channel[narrated] == 'Web').all()
  # Among complaints without a narrative, Web, Postal mail and Fax keep their
  # real proportions and fill what Referral and Phone leave.
  real = _marginal(tables.channel_consent, 0)
  silent = int((~narrated).sum())
  named_silent = sum(CHANNEL_TARGETS.values()) / (silent / ROWS)
  rest = (1 - named_silent) / (1 - sum(real[c] for c in CHANNEL_TARGETS))
  silent_shares = _shares(channel[~narrated])
  for value, share in real.items():
    if value not in CHANNEL_TARGETS:
      assert_share(silent_shares.get(value, 0.0), share * rest, silent, value)
  # Consent still follows the channel as in the real rows.
  for value in ('Referral', 'Web'):
    assert_same_shares(
        export.loc[(channel == value) & ~narrated,
                   'Consumer consent provided?'],
        default[0].loc[(default[0]['Submitted via'] == value) &
                       (default[0][NARRATIVE] == ''),
                       'Consumer consent provided?'],
        'consent | %s' % value)


def test_new_response_appears_in_the_stated_share(default, tables):
  export, truth = drifted('new_response')
  responses = export['Company response to consumer']
  assert NEW_RESPONSE not in tables.responses.values
  assert not (default[0]['Company response to consumer'] == NEW_RESPONSE).any()
  measured = _shares(responses)
  assert_share(measured.get(NEW_RESPONSE, 0.0), NEW_RESPONSE_SHARE, ROWS,
               NEW_RESPONSE)
  for value, share in tables.responses.as_dict().items():
    assert_share(measured.get(value, 0.0), share * (1 - NEW_RESPONSE_SHARE),
                 ROWS, value)
  # The label model knows the value (a real CFPB response of earlier years).
  new = (responses == NEW_RESPONSE).to_numpy()
  assert NEW_RESPONSE in label_model.RESPONSE_LOGIT
  assert_calibrated(_labels(export)[new], truth['true_probability'][new],
                    NEW_RESPONSE)


def test_narratives_are_reworded_and_longer(default):
  export, truth = drifted('narrative_wording')
  before = default[0][NARRATIVE].str.lower()
  after = export[NARRATIVE].str.lower()
  narrated = after != ''
  for old, new in REWORDED.items():
    assert not after.str.contains(old, regex=False).any(), old
    assert not before.str.contains(new, regex=False).any(), new
    # The new wording is as frequent as the old one was.
    assert_same_shares(after[narrated].str.contains(new, regex=False),
                       before[before != ''].str.contains(old, regex=False),
                       new)
  assert_same_shares(narrated, before != '', 'has a narrative')
  assert_same_distribution(_lengths(export) / LENGTH_FACTOR,
                           _lengths(default[0]), 'narrative length / 1.5')
  for q in (0.25, 0.5, 0.75):
    low, high = quantile_interval(_lengths(export), q, Z_STATED)
    base_low, base_high = quantile_interval(_lengths(default[0]), q, Z_STATED)
    assert low / base_high <= LENGTH_FACTOR <= high / base_low, (
        q, low / base_high, high / base_low)
  # The words carry the same weights: under the scenario's label model the
  # word terms are distributed as before, and the default model, which knows
  # only the old wording, finds no phrase at all.
  model = scenarios.SCENARIOS['narrative_wording'].dispute_model()
  weights = {p.key: p.logit for p in label_model.PHRASES}
  for phrase in model.phrases:
    if phrase.key in REWORDED.values():
      old = [k for k, v in REWORDED.items() if v == phrase.key][0]
      assert phrase.logit == weights[old]
  assert_same_shares(
      np.round(label_model.word_logit(export[NARRATIVE], model.phrases), 6),
      np.round(label_model.word_logit(default[0][NARRATIVE]), 6),
      'word logit')
  assert not label_model.word_logit(export[NARRATIVE]).any()


def test_narrative_wording_keeps_the_rest_of_the_label_model(default):
  """On today's rows the scenario's label model is today's label model."""
  model = scenarios.SCENARIOS['narrative_wording'].dispute_model()
  np.testing.assert_array_equal(
      label_model.true_probability(default[0], model),
      default[1]['true_probability'])


def test_reworded_phrases_are_in_no_real_narrative():
  """Else a real sentence would carry the signal where none was inserted."""
  text = real_stats.load_real_rows()[NARRATIVE].str.lower()
  for new in REWORDED.values():
    assert not text.str.contains(new, regex=False).any(), new


def test_concept_drift_changes_the_label_model_as_stated(default):
  export, truth = drifted('concept_drift')
  base_export, base_truth = default
  # The fields are drawn exactly as without the scenario.
  for column in cfpb_export.EXPORT_COLUMNS:
    if column != LABEL:
      assert (export[column] == base_export[column]).all(), column
  # Row by row, the log-odds move by the stated changes and nothing else.
  expected = np.zeros(ROWS)
  for column, changes in (
      ('Company response to consumer', RESPONSE_LOGIT_CHANGE),
      ('Product', PRODUCT_LOGIT_CHANGE)):
    for value, (old, new) in changes.items():
      expected += (new - old) * (export[column] == value).to_numpy()
  p_new = truth['true_probability'].to_numpy()
  p_old = base_truth['true_probability'].to_numpy()
  clear = (np.minimum(p_new, p_old) > 1e-3) & (np.maximum(p_new, p_old) <
                                               1 - 1e-3)
  assert clear.mean() > 0.9
  np.testing.assert_allclose(_logit(p_new)[clear] - _logit(p_old)[clear],
                             expected[clear], atol=2e-3)
  # The labels follow the new probabilities, not the old ones, in each
  # changed group and overall.
  labels = _labels(export)
  groups = [('Company response to consumer', v) for v in RESPONSE_LOGIT_CHANGE]
  groups += [('Product', v) for v in PRODUCT_LOGIT_CHANGE]
  for column, value in groups:
    rows = (export[column] == value).to_numpy()
    assert_calibrated(labels[rows], p_new[rows], value)
    shift = abs(p_new[rows].mean() - p_old[rows].mean())
    noise = math.sqrt(np.sum(p_old[rows] * (1 - p_old[rows]))) / rows.sum()
    assert shift > Z * noise, value
    rate_moved = labels[rows].mean() - _labels(base_export)[rows].mean()
    assert np.sign(rate_moved) == np.sign(expected[rows].mean()), value
  assert_calibrated(labels, p_new, 'all rows')
  assert _labels(export).mean() - _labels(base_export).mean() > 0.02


@pytest.mark.parametrize('name', sorted(TOUCHED))
def test_untouched_fields_stay_within_sampling_noise(name, default):
  export, _ = drifted(name)
  base = default[0]
  for column in CATEGORICAL_COLUMNS:
    if column in TOUCHED[name]:
      continue
    values, base_values = export[column], base[column]
    if column in ('Date received', 'Date sent to company'):
      values, base_values = values.str[:7], base_values.str[:7]  # Month.
    assert_same_shares(values, base_values, column)
  if NARRATIVE not in TOUCHED[name]:
    assert_same_shares(export[NARRATIVE] != '', base[NARRATIVE] != '',
                       'has a narrative')
    assert_same_distribution(_lengths(export), _lengths(base),
                             'narrative length')
    for phrase in label_model.PHRASES:
      assert_same_shares(
          export[NARRATIVE].str.lower().str.contains(phrase.key, regex=False),
          base[NARRATIVE].str.lower().str.contains(phrase.key, regex=False),
          phrase.key)


@pytest.mark.parametrize('name', sorted(TOUCHED))
def test_true_probabilities_come_from_the_scenario_label_model(name,
                                                               tmp_path):
  paths = generate.ensure_generated(3000, 5, str(tmp_path), scenario=name,
                                    span=1)
  assert os.path.basename(paths.export_csv) == (
      'complaints_3000_seed5_span1_%s.csv' % name)
  assert os.path.basename(paths.true_probabilities_csv) == (
      'true_probabilities_3000_seed5_span1_%s.csv' % name)
  export = cfpb_export.read_export(paths.export_csv)
  truth = pd.read_csv(paths.true_probabilities_csv)
  assert (truth['complaint_id'].astype(str) == export['Complaint ID']).all()
  model = scenarios.SCENARIOS[name].dispute_model()
  np.testing.assert_allclose(label_model.true_probability(export, model),
                             truth['true_probability'], atol=1e-6)
  assert_calibrated(_labels(export), truth['true_probability'], name)
  if name == 'concept_drift':
    old = label_model.true_probability(export)
    assert np.abs(old - truth['true_probability']).max() > 0.1


# --- Spans. ---


def test_successive_spans_have_disjoint_ids_and_other_rows():
  spans = [generate.generate(2000, SEED, span=k)[0] for k in (0, 1, 2)]
  spans.append(generate.generate(2000, SEED, 'concept_drift', span=3)[0])
  ids = [set(s['Complaint ID'].astype(int)) for s in spans]
  for k in range(len(ids)):
    assert len(ids[k]) == 2000
    for j in range(k):
      assert not ids[j] & ids[k], (j, k)
      assert max(ids[j]) < min(ids[k])  # Later spans, higher IDs.
  for j in range(len(spans)):
    for k in range(j):
      assert (spans[j][NARRATIVE] != spans[k][NARRATIVE]).mean() > 0.3
      assert (spans[j]['Company'] != spans[k]['Company']).mean() > 0.5
  again = generate.generate(2000, SEED, span=2)[0]
  assert generate.export_csv_bytes(again) == generate.export_csv_bytes(
      spans[2])


def test_span_ids_are_disjoint_at_the_largest_size():
  """Whatever the rows (up to MAX_ROWS), a span stays in its own block."""
  assert generate.MAX_ROWS == 1_000_000
  for span in (0, 1, 998):
    first, last = generate.span_id_range(span)
    next_first, _ = generate.span_id_range(span + 1)
    assert last < next_first
    assert last - first + 1 >= 2 * generate.MAX_ROWS
  assert generate.span_id_range(generate.MAX_SPAN)[1] < 2**31
  ids = generate.generate(3, SEED, span=5)[0]['Complaint ID'].astype(int)
  first, last = generate.span_id_range(5)
  assert ids.between(first, last).all()


def test_cli_scenario_and_span(tmp_path, capsys):
  out = str(tmp_path)
  assert generate.main(['--rows', '500', '--span', '2', '--scenario',
                        'new_response', '--out', out, '--json']) == 0
  summary = json.loads(capsys.readouterr().out)
  assert summary['scenario'] == 'new_response' and summary['span'] == 2
  assert summary['scenario_changes']['new_response'] == {
      NEW_RESPONSE: NEW_RESPONSE_SHARE}
  assert summary['export_csv'].endswith('complaints_500_seed42_span2_'
                                        'new_response.csv')
  first, last = summary['complaint_id_range']
  ids = pd.read_csv(summary['export_csv'])['Complaint ID']
  assert ids.between(first, last).all()
  assert generate.main(['--rows', '500', '--span', '2', '--scenario',
                        'new_response', '--out', out]) == 0
  text = capsys.readouterr().out
  assert 'span 2, scenario new_response' in text and 'unchanged' in text


@pytest.mark.parametrize('kwargs,message', [
    (dict(scenario='no_such_scenario'), "unknown scenario 'no_such_scenario'"),
    (dict(scenario=''), "unknown scenario ''"),
    (dict(span=-1), 'the span must be a whole number from 0 to 999'),
    (dict(span=1000), 'the span must be a whole number from 0 to 999'),
    (dict(span=1.0), 'the span must be a whole number from 0 to 999'),
    (dict(span=True), 'the span must be a whole number from 0 to 999'),
])
def test_bad_scenario_or_span_raise_before_writing(kwargs, message, tmp_path):
  out = tmp_path / 'generated'
  with pytest.raises(generate.GeneratorArgumentError, match=re.escape(message)):
    generate.ensure_generated(5, 42, str(out), **kwargs)
  assert not out.exists()


@pytest.mark.parametrize('fields,message', [
    (dict(product_shares=(('Mortgage', 0.6), ('Credit card', 0.5))),
     'summing below 1'),
    (dict(product_shares=(('Mortgage', 0.0),)), 'summing below 1'),
    (dict(channel_shares=(('Web', 0.5),)), '"Web" cannot be set'),
    (dict(new_response='Closed without relief'), 'needs a share'),
    (dict(narrative_length_factor=0), 'must be positive'),
    (dict(reworded_phrases=label_model.PHRASES[:2]), 'reword every phrase'),
])
def test_scenario_descriptions_are_checked(fields, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    scenarios.Scenario(name='bad', summary='bad', **fields)


@pytest.mark.parametrize('fields,message', [
    (dict(product_shares=(('No such product', 0.2),)), 'no product'),
    (dict(new_response='Closed with explanation', new_response_share=0.1),
     'is not new'),
    (dict(channel_shares=(('Referral', 0.5), ('Phone', 0.3))),
     'no room for'),
])
def test_scenario_that_does_not_fit_the_tables_is_refused(fields, message):
  scenario = scenarios.Scenario(name='bad', summary='bad', **fields)
  with pytest.raises(ValueError, match=message):
    generate.generate(10, 1, scenario)
