"""Tests of the label's probability model on hand-made rows."""

import math

import pandas as pd
import pytest

from data import label_model
from data import real_stats
from data.cfpb_export import EXPORT_COLUMNS


def _row(**values):
  row = {column: '' for column in EXPORT_COLUMNS}
  row.update(values)
  return pd.DataFrame([row], columns=EXPORT_COLUMNS)


def test_probability_hand_computed():
  rows = _row(**{
      'Company response to consumer': 'Closed with monetary relief',
      'Product': 'Credit card', 'Timely response?': 'No',
      'Submitted via': 'Web', 'Tags': 'Servicemember',
      'Issue': 'Billing disputes', 'Company': 'CITIBANK, N.A.', 'State': 'NY',
      'Consumer complaint narrative':
          'They NEVER responded.\n\nThank you for your help, CFPB.'})
  expected = (label_model.BASE_LOGIT - 1.05 - 0.1 + 0.3 + 0.1 + 0.2
              + label_model.hashed_effect('Billing disputes', 'Issue', 1.2)
              + label_model.hashed_effect('CITIBANK, N.A.', 'Company', 1.0)
              + label_model.hashed_effect('NY', 'State', 0.15)
              + 2.2 - 2.0)
  assert label_model.logit(rows)[0] == pytest.approx(expected, abs=1e-12)
  assert label_model.true_probability(rows)[0] == pytest.approx(
      1 / (1 + math.exp(-expected)), abs=5e-7)


def test_empty_and_unknown_values_add_nothing():
  rows = _row(**{'Product': 'A product the model never saw'})
  assert label_model.logit(rows)[0] == label_model.BASE_LOGIT


def test_hashed_effects_are_fixed_and_bounded():
  effect = label_model.hashed_effect('Mortgage', 'Issue', 1.2)
  assert effect == label_model.hashed_effect('Mortgage', 'Issue', 1.2)
  assert effect != label_model.hashed_effect('Mortgage', 'Company', 1.2)
  assert all(abs(label_model.hashed_effect(str(i), 'State', 0.15)) <= 0.15
             for i in range(200))
  assert label_model.hashed_effect('', 'State', 0.15) == 0.0


def test_phrase_keys_are_distinct_and_in_their_sentences():
  keys = [p.key for p in label_model.PHRASES]
  assert len(set(keys)) == len(keys)
  for phrase in label_model.PHRASES:
    assert phrase.key in phrase.sentence.lower()
    assert [k for k in keys if k in phrase.sentence.lower()] == [phrase.key]


def test_sentence_pools_exclude_model_phrases():
  tables = real_stats.load_tables()
  pools = [tables.all_sentences] + list(tables.sentences_by_product.values())
  pools += list(tables.sentences_by_issue.values())
  for pool in pools:
    assert not any(label_model.contains_phrase(s) for s in pool)
  assert len(tables.all_sentences) > 15000
