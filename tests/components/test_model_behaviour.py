"""Behavioural tests of the pushed model (Made-With-ML's model tests).

The generated data's label model is known exactly (data/label_model.py), so
the expected direction of every change is read from its tables, never from
the model under test: a value the label model makes more disputed must raise
the score, a typo must barely move it, and hand-written complaints must rank
as the label model ranks them.
"""

import pytest

from components import features
from components import signatures
from data import label_model

pytestmark = pytest.mark.e2e

BASE = dict(signatures.WARMUP_COMPLAINT, **{
    features.NARRATIVE: 'I made my payment on time but the bank charged me '
                        'a late fee and reported my account as delinquent.'})


@pytest.fixture(scope='module')
def score(e2e_run):
  """P(disputed) of raw complaints through the served predict_raw signature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  version = e2e_run.summary['push']['version']
  model = tf.saved_model.load(str(e2e_run.serving_dir / e2e_run.model_name /
                                  version))
  predict = model.signatures[features.RAW_SIGNATURE]

  def run(*complaints):
    outputs = predict(**{key: tf.constant([c.get(key, '') for c in complaints])
                         for key in features.RAW_FEATURES})
    return [float(p) for p in outputs[features.OUTPUT_KEY].numpy().ravel()]
  return run


def _by_logit(table):
  """The table's values, most disputed first (the label model's order)."""
  return sorted(table, key=table.get, reverse=True)


@pytest.mark.parametrize('feature, table, high, low', [
    # Two common responses 1.05 apart in the label model's logit.
    (features.COMPANY_RESPONSE, label_model.RESPONSE_LOGIT,
     'Closed with explanation', 'Closed with monetary relief'),
    # Two common products 0.75 apart.
    (features.PRODUCT, label_model.PRODUCT_LOGIT, 'Mortgage',
     'Credit reporting'),
])
def test_direction_a_more_disputed_value_raises_the_score(
    score, feature, table, high, low):
  assert table[high] > table[low]  # what the label model says
  assert _by_logit({high: table[high], low: table[low]}) == [high, low]
  with_high, with_low = score(dict(BASE, **{feature: high}),
                              dict(BASE, **{feature: low}))
  assert with_high > with_low


def test_direction_phrases_move_the_score_their_way(score):
  raising = max(label_model.RAISING_PHRASES, key=lambda p: p.logit)
  lowering = min(label_model.LOWERING_PHRASES, key=lambda p: p.logit)
  text = BASE[features.NARRATIVE]
  base, up, down = score(
      BASE, dict(BASE, **{features.NARRATIVE: f'{text} {raising.sentence}'}),
      dict(BASE, **{features.NARRATIVE: f'{text} {lowering.sentence}'}))
  assert up > base > down


def test_invariance_a_typo_barely_moves_the_score(score):
  text = BASE[features.NARRATIVE]
  typo = text.replace('payment', 'paymnet').replace('charged', 'chagred')
  assert typo != text and not label_model.contains_phrase(text)
  original, misspelt = score(BASE, dict(BASE, **{features.NARRATIVE: typo}))
  assert abs(original - misspelt) < 0.02


def test_minimum_functionality_on_hand_written_complaints(score):
  angry = dict(BASE, **{
      features.COMPANY_RESPONSE: 'Closed with explanation',
      features.NARRATIVE: 'They never responded to any of my letters. I was '
                          'not satisfied with their response.'})
  settled = dict(BASE, **{
      features.COMPANY_RESPONSE: 'Closed with monetary relief',
      features.NARRATIVE: 'They apologized and refunded the fees. Thank you '
                          'for your help with this matter.'})
  # The label model's own probabilities for the two, from its tables.
  truth = label_model.true_probability(_as_export([angry, settled]))
  assert truth[0] > 0.9 and truth[1] < 0.05
  p_angry, p_settled = score(angry, settled)
  # A model that learnt the phrases and responses at all separates them.
  assert p_angry > 0.5 > p_settled
  assert p_angry - p_settled > 0.3


def _as_export(complaints):
  """Raw features back into the export's columns (what label_model reads)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  return pd.DataFrame([{features.FEATURE_TO_EXPORT[key]: c.get(key, '')
                        for key in features.RAW_FEATURES} for c in complaints])
