"""preprocessing_fn through tft_beam on three rows, against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components import transform
from tests.components.conftest import analyze_and_transform

ROWS = [
    {'product': 'Mortgage', 'state': 'CA', 'zip_code': '606XX',
     'narrative': 'Late, FEE late.', 'consumer_disputed': 1},
    {'product': 'Mortgage', 'state': 'CA', 'zip_code': '60614',
     'narrative': 'late', 'consumer_disputed': 0},
    {'product': 'Credit card', 'state': '', 'zip_code': '',
     'narrative': '', 'consumer_disputed': 0},
]


def raw_rows():
  """ROWS as tft_beam takes them: every raw feature, bytes."""
  rows = []
  for row in ROWS:
    full = {key: '' for key in features.RAW_FEATURES}
    full.update(row)
    rows.append({k: (v.encode() if isinstance(v, str) else v)
                 for k, v in full.items()})
  return rows


def raw_feature_spec():
  spec = {key: tf.io.FixedLenFeature([], tf.string)
          for key in features.RAW_FEATURES}
  spec[features.LABEL_KEY] = tf.io.FixedLenFeature([], tf.int64)
  return spec


@pytest.fixture(scope='module')
def analyzed(three_rows_transformed):
  """(transformed rows, the categorical vocabulary) from tft_beam: raw_rows
  through preprocessing_fn (conftest.py's three_rows_transformed)."""
  data, output = three_rows_transformed
  vocabulary = [token.decode() for token in output.vocabulary_by_name(
      features.CATEGORICAL_VOCAB)]
  return data, vocabulary


@pytest.fixture(scope='module')
def transformed(analyzed):
  return analyzed[0]


def _tokens(analyzed):
  """Each row's categorical ids decoded through the vocabulary."""
  data, vocabulary = analyzed
  return [[vocabulary[i] for i in row[features.CATEGORICAL_XF]]
          for row in data]


def test_categoricals_share_one_vocabulary_of_feature_value_tokens(analyzed):
  tokens = _tokens(analyzed)
  assert [len(row) for row in tokens] == [len(features.CATEGORICAL_INPUTS)] * 3
  assert [row[0] for row in tokens] == [
      'product=Mortgage', 'product=Mortgage', 'product=Credit card']
  # The empty state is the explicit MISSING category, not an OOV bucket.
  state = features.CATEGORICAL_INPUTS.index('state')
  assert [row[state] for row in tokens] == [
      'state=CA', 'state=CA', 'state=' + features.MISSING_TOKEN]
  # A feature that is always missing maps every row to its one token.
  issue = features.CATEGORICAL_INPUTS.index('issue')
  assert {row[issue] for row in tokens} == {'issue=' + features.MISSING_TOKEN}


def test_vocabulary_ids_follow_frequency(analyzed):
  data, vocabulary = analyzed
  ids = {token: i for i, token in enumerate(vocabulary)}
  # Seen in all three rows < in two rows < in one row.
  assert (ids['issue=' + features.MISSING_TOKEN] < ids['product=Mortgage']
          < ids['product=Credit card'])
  assert len(vocabulary) == len(set(vocabulary))


def test_zip_code_reduced_to_three_digit_prefix(analyzed):
  zip_column = features.CATEGORICAL_INPUTS.index('zip_code')
  assert [row[zip_column] for row in _tokens(analyzed)] == [
      'zip_code=606', 'zip_code=606', 'zip_code=' + features.MISSING_TOKEN]


def test_narrative_becomes_ids_of_word_ngrams_up_to_three(three_rows_transformed):
  data, output = three_rows_transformed
  name = features.TEXT_FEATURE
  vocabulary = [t.decode() for t in output.vocabulary_by_name(
      features.vocabulary_name(name))]
  ngrams = [[vocabulary[i] for i in np.asarray(r[features.transformed_name(name)])]
            for r in data]
  # 'Late, FEE late.' -> by start word, shortest first.
  assert ngrams == [['late', 'late fee', 'late fee late', 'fee', 'fee late',
                     'late'], ['late'], []]


# Ten narratives, half of them disputed: "refund" is written only in the
# disputed ones and "never" only in the others, "the the" in every one. By
# frequency "the" (twice in each of the 10 rows) ranks first; it and "the
# the" say nothing about the label, while each of the six n-grams "refund",
# "the refund", "the the refund" and the three with "never" (5 rows, all one
# class: 2.5 more or fewer disputes than expected, above TFT's small-data
# threshold of 2) tells it exactly. "the" twice in a row counts one row.
INFORMATIVE_ROWS = ([{'narrative': 'the the refund', 'consumer_disputed': 1}] * 5
                    + [{'narrative': 'the the never', 'consumer_disputed': 0}] * 5)


def test_text_vocabulary_keeps_the_ngrams_informative_about_the_label(
    tmp_path, monkeypatch):
  monkeypatch.setattr(features, 'TEXT_VOCAB_SIZE', 6)
  monkeypatch.setattr(features, 'TEXT_VOCAB_BY_LABEL', True)
  rows = []
  for row in INFORMATIVE_ROWS:
    full = {key: b'' for key in features.RAW_FEATURES}
    full.update({k: v.encode() if isinstance(v, str) else v
                 for k, v in row.items()})
    rows.append(full)
  data, out = analyze_and_transform(transform.preprocessing_fn, rows,
                                    raw_feature_spec(), tmp_path)
  vocabulary = [t.decode() for t in tft.TFTransformOutput(
      out).vocabulary_by_name(features.vocabulary_name(features.TEXT_FEATURE))]
  assert sorted(vocabulary) == ['never', 'refund', 'the never', 'the refund',
                                'the the never', 'the the refund']
  oov = 6  # top_k, then the one OOV bucket
  first = np.asarray(data[0][features.transformed_name(features.TEXT_FEATURE)])
  # by start word, shortest first: the, the the, the the refund, the, ...
  assert [vocabulary[i] if i < oov else i for i in first] == [
      oov, oov, 'the the refund', oov, 'the refund', 'refund']


def test_unique_per_row_keeps_each_rows_first_occurrences():
  tokens = tf.sparse.from_dense(tf.constant(
      [['a', 'b', 'a', 'a'], ['b', 'b', '', ''], ['', '', '', ''],
       ['c', 'a', 'c', 'b']]))
  unique = transform.unique_per_row(tokens)
  assert unique.indices.numpy().tolist() == [[0, 0], [0, 1], [1, 0], [3, 0],
                                             [3, 1], [3, 3]]
  assert [v.decode() for v in unique.values.numpy()] == ['a', 'b', 'b', 'c',
                                                         'a', 'b']


def test_label_passes_through(transformed):
  assert [r[features.LABEL_KEY] for r in transformed] == [1, 0, 0]


def test_zip_prefix_rejects_non_digits():
  out = transform.zip_prefix(tf.constant(['606XX', ' 021', 'XXXXX', '', '9']))
  assert [v.decode() for v in out.numpy()] == [
      '606', '021', features.MISSING_TOKEN, features.MISSING_TOKEN,
      features.MISSING_TOKEN]


def test_tokenize_truncates_long_narratives():
  text = tf.constant([' '.join(['word'] * (features.TEXT_MAX_TOKENS + 50))])
  assert transform.tokenize(text).row_lengths().numpy().tolist() == [
      features.TEXT_MAX_TOKENS]
