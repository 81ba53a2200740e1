"""Any CSV to the pipeline's columns by its spec: keys, kinds, label index,
row keys; each expectation written out by hand from the rows below."""

import csv
import hashlib

import pandas as pd
import pytest

from components import dataset_spec
from data import spec_frame

SPEC = """
name: shop
schema: shop.schema.pbtxt
label:
  column: Bought?
  task: multiclass
  classes: [none, one, many]
missing: ["NA"]
features:
  - {column: Basket value, kind: numeric}
  - {column: Country, kind: categorical}
  - {column: Review, kind: text}
model: {name: shop, output: bought_probabilities}
card: {purpose: p, intended_use: u, limitations: l}
"""


@pytest.fixture
def spec(tmp_path):
  path = tmp_path / 'shop.yaml'
  path.write_text(SPEC)
  return dataset_spec.load(str(path))


def _csv(rows):
  return pd.DataFrame(rows, columns=['Basket value', 'Country', 'Review',
                                     'Bought?', 'Other'], dtype=str)


def test_rows_become_keys_kinds_and_class_indices(spec):
  df = _csv([['12.5', ' DE ', 'good\r\nvalue', 'many', 'x'],
             ['NA', 'NA', '', 'none', 'y'],
             ['3', 'FR', 'meh', '', 'z'],          # no label: kept apart
             ['4', 'FR', 'ok', ' ', 'w']])
  labelled, unlabelled = spec_frame.to_pipeline_frame(df, spec)
  assert list(labelled.columns) == ['row_key', 'basket_value', 'country',
                                    'review', 'bought']
  assert labelled['basket_value'].iloc[0] == 12.5
  assert pd.isna(labelled['basket_value'].iloc[1])   # NA: no value
  assert list(labelled['country']) == ['DE', '']
  assert list(labelled['review']) == ['good value', '']
  assert list(labelled['bought']) == [2, 0]          # many, none
  assert list(unlabelled['country']) == ['FR', 'FR']
  assert 'bought' not in unlabelled.columns
  # The row key: sha256 of the spec's columns but the label, 60 bits.
  text = '\x1f'.join(['12.5', ' DE ', 'good\r\nvalue'])
  assert labelled['row_key'].iloc[0] == int(
      hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def test_the_row_key_ignores_the_label_and_unread_columns(spec):
  a = _csv([['1', 'DE', 'hi', 'one', 'x']])
  b = _csv([['1', 'DE', 'hi', 'many', 'y']])
  assert (spec_frame.row_keys(a, spec).iloc[0]
          == spec_frame.row_keys(b, spec).iloc[0])


def test_a_numeric_column_with_words_is_one_line(spec):
  df = _csv([['1', 'DE', 'hi', 'one', ''], ['lots', 'DE', 'hi', 'none', '']])
  with pytest.raises(spec_frame.DataKindError) as error:
    spec_frame.to_pipeline_frame(df, spec, 'shop.csv')
  assert str(error.value) == (
      "shop.csv: column 'Basket value' is numeric in the spec, but 1 "
      "value(s) are not numbers (first: 'lots' in row 3): make it "
      'categorical, or clean it')


def test_a_label_outside_the_classes_is_an_error(spec):
  df = _csv([['1', 'DE', 'hi', 'one', ''], ['2', 'DE', 'hi', 'lots', '']])
  with pytest.raises(dataset_spec.SpecError,
                     match=r"value\(s\) 'lots' outside the spec's classes"):
    spec_frame.to_pipeline_frame(df, spec, 'shop.csv')


def _label_counts(path, column, classes):
  """Counted with the csv module, apart from the code under test."""
  with open(path, newline='', encoding='utf-8') as f:
    values = [row[column] for row in csv.DictReader(f)]
  return len(values), {i: values.count(c) for i, c in enumerate(classes)}


@pytest.mark.parametrize('name', ['taxi', 'penguins'])
def test_the_shipped_taxi_and_penguin_csvs_convert(name):
  spec = dataset_spec.load(name)
  rows, counts = _label_counts(spec.data_path, spec.label.column,
                               spec.label.classes)
  assert rows == {'taxi': 15002, 'penguins': 344}[name]
  df = pd.read_csv(spec.data_path, dtype=str, keep_default_na=False)
  labelled, unlabelled = spec_frame.to_pipeline_frame(df, spec)
  assert len(labelled) == rows and len(unlabelled) == 0
  assert labelled[spec.label.key].value_counts().to_dict() == counts
  assert 'tips' not in labelled.columns
