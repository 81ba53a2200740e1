"""Transform's `preprocessing_fn`: the one feature graph for training and serving.

The graph is exported with the model, so serving applies exactly these steps
(no training/serving skew). Names come from `components.features`.
"""

import tensorflow as tf
import tensorflow_transform as tft

from components import features


def dense(value, default=''):
  """Turns a possibly sparse, ragged or [N, 1] feature into dense [N].

  CsvExampleGen leaves empty cells missing, so optional features arrive as
  SparseTensors; a missing value becomes `default` here (the empty string
  for a string feature).
  """
  if isinstance(value, tf.RaggedTensor):
    value = value.to_sparse()
  if isinstance(value, tf.SparseTensor):
    value = tf.sparse.to_dense(
        tf.SparseTensor(value.indices, value.values,
                        [value.dense_shape[0], 1]),
        default_value=default)
  return tf.reshape(value, [-1])


def fill_missing(value):
  """Empty strings (missing in the CSV) become the explicit MISSING token."""
  value = tf.strings.strip(value)
  return tf.where(tf.equal(value, ''), features.MISSING_TOKEN, value)


def zip_prefix(zip_code, length: int = features.ZIP_PREFIX_LENGTH):
  """Keeps the `length`-digit prefix of a (possibly masked, '606XX') code."""
  prefix = tf.strings.substr(tf.strings.strip(zip_code), 0, length)
  valid = tf.strings.regex_full_match(prefix, '[0-9]{%d}' % length)
  return tf.where(valid, prefix, features.MISSING_TOKEN)


def categorical_tokens(inputs):
  """[N, len(CATEGORICAL_INPUTS)] tokens "<feature>=<value>" for one vocabulary.

  The prefix keeps equal values of different features apart; missing values
  become the feature's MISSING token, the ZIP code its 3-digit prefix.
  """
  columns = []
  for key in features.CATEGORICAL_INPUTS:
    value = dense(inputs[key])
    value = (zip_prefix(value) if key == features.ZIP_FEATURE
             else fill_missing(value))
    columns.append(tf.strings.join([key + '=', value]))
  return tf.stack(columns, axis=1)


def tokenize(text):
  """Lower-cases, drops punctuation and splits into at most TEXT_MAX_TOKENS words."""
  text = tf.strings.lower(text)
  text = tf.strings.regex_replace(text, r'[^a-z0-9]+', ' ')
  tokens = tf.strings.split(text)
  return tokens[:, :features.TEXT_MAX_TOKENS]


def text_ngram_ids(text, vocab_filename: str, labels=None):
  """Ids of a text column's word n-grams in a TFT vocabulary (sparse rows).

  A sparse output becomes a variable-length feature: every n-gram of a long
  text is kept, and an empty text is an empty row. With
  `features.TEXT_VOCAB_BY_LABEL` and `labels` (the label's class index,
  present when Transform analyzes the training split) the vocabulary keeps the `TEXT_VOCAB_SIZE` n-grams of highest mutual
  information with the label (TFT's supervised vocabulary), not the most
  frequent: on a few thousand rows most frequent n-grams are function words
  and rare phrases the model only overfits, and fitting their weights costs
  it more than they tell (features.py has the measurement). The labels only
  rank the vocabulary during analysis; at serving time the n-grams are
  looked up in the written file, no label needed.
  """
  ngrams = tft.ngrams(tokenize(dense(text)).to_sparse(),
                      ngram_range=features.TEXT_NGRAM_RANGE, separator=' ')
  if labels is None or not features.TEXT_VOCAB_BY_LABEL:
    vocabulary = tft.vocabulary(ngrams, top_k=features.TEXT_VOCAB_SIZE,
                                vocab_filename=vocab_filename)
  else:
    vocabulary = tft.vocabulary(unique_per_row(ngrams), labels=labels,
                                top_k=features.TEXT_VOCAB_SIZE,
                                vocab_filename=vocab_filename)
  return tft.apply_vocabulary(
      ngrams, vocabulary, num_oov_buckets=features.TEXT_OOV_BUCKETS)


def unique_per_row(tokens: tf.SparseTensor) -> tf.SparseTensor:
  """`tokens` with each row's repeats dropped (first occurrences kept).

  TFT's supervised vocabulary counts a token once per row it appears in (it
  needs a set per row: a repeat would count as two rows); the model's
  multi-hot counts it once too. A row's tokens are made unique by keying
  each value with its row number.
  """
  rows = tokens.indices[:, 0]
  keys = tf.strings.join([tf.strings.as_string(rows), tokens.values],
                         separator='\x1f')
  unique_keys, key_of = tf.unique(keys)
  # tf.unique numbers the keys by first appearance, so the first positions
  # come out ascending and the indices stay in order.
  first = tf.math.unsorted_segment_min(
      tf.range(tf.size(keys)), key_of, tf.size(unique_keys))
  return tf.SparseTensor(tf.gather(tokens.indices, first),
                         tf.gather(tokens.values, first), tokens.dense_shape)


def label_index(label):
  """The label as a dense [N] int64 class index (a sparse or [N, 1] column
  from the examples, 0 where missing)."""
  return tf.reshape(tf.cast(dense(label, 0), tf.int64), [-1])


def preprocessing_fn(inputs):
  """Maps raw CSV features to the model's integer inputs.

  Args:
    inputs: raw features keyed by `features.RAW_FEATURES` (strings) and,
      during training, the label `features.LABEL_KEY` (int).

  Returns:
    `features.CATEGORICAL_XF` (one vocabulary id per categorical input, in
    `features.CATEGORICAL_INPUTS` order), the narrative's n-gram ids, and
    the label unchanged.
  """
  outputs = {features.CATEGORICAL_XF: tft.compute_and_apply_vocabulary(
      categorical_tokens(inputs),
      top_k=features.CATEGORICAL_VOCAB_SIZE,
      num_oov_buckets=features.OOV_BUCKETS,
      vocab_filename=features.CATEGORICAL_VOCAB)}
  label = (label_index(inputs[features.LABEL_KEY])
           if features.LABEL_KEY in inputs else None)
  outputs[features.transformed_name(features.TEXT_FEATURE)] = text_ngram_ids(
      inputs[features.TEXT_FEATURE],
      features.vocabulary_name(features.TEXT_FEATURE), labels=label)
  if label is not None:
    outputs[features.LABEL_KEY] = label
  return outputs
