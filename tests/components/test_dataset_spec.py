"""The dataset spec: the shipped specs load, a spec that cannot work is one
line naming what is wrong, and the CFPB spec says what features.py says."""

import pytest

from components import dataset_spec
from components import features

GOOD = """
name: shop
schema: shop.schema.pbtxt
label:
  column: Bought?
  task: binary
  classes: ["no", "yes"]
  positive: "yes"
id: Order ID
features:
  - {column: Basket value, kind: numeric}
  - {column: Country, kind: categorical}
  - {column: Review, kind: text}
slices: [Country]
model: {name: shop, output: bought_probability}
card: {purpose: p, intended_use: u, limitations: l}
"""


def _spec(tmp_path, text, name='shop.yaml'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_a_spec_becomes_one_typed_object(tmp_path):
  spec = dataset_spec.load(_spec(tmp_path, GOOD))
  assert [(f.column, f.key, f.kind) for f in spec.features] == [
      ('Basket value', 'basket_value', 'numeric'),
      ('Country', 'country', 'categorical'), ('Review', 'review', 'text')]
  assert (spec.label.key, spec.label.classes) == ('bought', ('no', 'yes'))
  assert [spec.label.index_of(v) for v in ('yes', 'no', ' yes ', 'maybe')] == [
      1, 0, 1, None]
  assert spec.id_key == 'order_id' and spec.slices == ('country',)
  assert spec.schema_path == str(tmp_path / 'shop.schema.pbtxt')
  assert spec.columns == ['Basket value', 'Country', 'Review', 'Bought?',
                          'Order ID']
  assert dataset_spec.from_config(spec.to_config()) == spec


@pytest.mark.parametrize('name', dataset_spec.SHIPPED)
def test_shipped_specs_load_and_find_their_data(name):
  spec = dataset_spec.load(name)
  assert spec.path.endswith(f'datasets/{name}.yaml')
  if spec.data_path:  # taxi and penguins: files of installed packages
    with open(spec.data_path, encoding='utf-8') as f:
      header = f.readline().strip().split(',')
    assert set(spec.columns) <= set(header)


def test_the_cfpb_spec_names_what_features_py_names():
  spec = dataset_spec.load('cfpb')
  assert {f.column: f.key for f in spec.features} == features.EXPORT_TO_FEATURE
  assert [f.key for f in spec.of_kind('categorical')] == (
      features.CATEGORICAL_INPUTS)
  assert [f.key for f in spec.of_kind('text')] == [features.TEXT_FEATURE]
  assert spec.slices == tuple(features.SLICE_FEATURES)
  assert (spec.label.column, spec.label.key) == (
      features.LABEL_EXPORT_COLUMN, features.LABEL_KEY)
  assert (spec.id_column, spec.id_key) == (features.ID_EXPORT_COLUMN,
                                           features.ID_KEY)
  assert spec.output_key == features.OUTPUT_KEY


@pytest.mark.parametrize('change, message', [
    (('name: shop', 'name: shop\ncolour: red'),
     "the top level: unknown key ('colour' was unexpected)"),
    (('kind: numeric', 'kind: number'),
     "features.0.kind: 'number' is not one of ['categorical', 'numeric', "
     "'text']"),
    (('positive: "yes"', 'positive: "maybe"'),
     "label: positive 'maybe' is not one of the classes ['no', 'yes']"),
    (('slices: [Country]', 'slices: [Review]'),
     "slices: 'Review' is not a categorical feature of the spec"),
    (('  - {column: Review, kind: text}',
      '  - {column: Review, kind: text}\n  - {column: review, kind: numeric}'),
     "columns 'Review' and 'review' both become the key 'review'"),
    (('  task: binary\n  classes: ["no", "yes"]\n  positive: "yes"',
      '  task: multiclass'), "label: 'classes' is a required property"),
    (('features:', 'ignore: [Country]\nfeatures:'),
     "ignore: 'Country' is also read by the spec"),
    (('  task: binary', '  task: [binary'), 'is not valid YAML (line 7)'),
])
def test_a_spec_that_cannot_work_is_one_line(tmp_path, change, message):
  old, new = change
  assert old in GOOD
  with pytest.raises(dataset_spec.SpecError) as error:
    dataset_spec.load(_spec(tmp_path, GOOD.replace(old, new, 1)))
  text = str(error.value)
  assert message in text and '\n' not in text, text


def test_a_missing_spec_names_the_shipped_ones(tmp_path):
  with pytest.raises(dataset_spec.SpecError, match='shipped: cfpb, taxi, '
                     'penguins'):
    dataset_spec.load(str(tmp_path / 'nope.yaml'))


@pytest.mark.parametrize('header, labels, message', [
    (['Basket value', 'Country', 'Bought?', 'Order ID'], ['yes', 'no'],
     r"orders.csv lacks the column\(s\) 'Review' that the dataset spec "
     'shop.yaml names'),
    (['Basket value', 'Country', 'Review', 'Bought?', 'Order ID'],
     ['yes', 'yes', ''], 'has one class only'),
    (['Basket value', 'Country', 'Review', 'Bought?', 'Order ID'],
     ['maybe', ''], 'has no usable value'),
])
def test_a_csv_the_spec_cannot_read(tmp_path, header, labels, message):
  spec = dataset_spec.load(_spec(tmp_path, GOOD))
  with pytest.raises(dataset_spec.SpecError, match=message):
    dataset_spec.check_columns(spec, header, labels, 'orders.csv')


def test_multiclass_labels_outside_the_classes(tmp_path):
  spec = dataset_spec.load('penguins')
  with pytest.raises(dataset_spec.SpecError,
                     match=r"value\(s\) 'Emperor' outside the spec's classes"):
    dataset_spec.check_columns(spec, spec.columns, ['Adelie', 'Emperor'],
                               'birds.csv')
  dataset_spec.check_columns(spec, spec.columns, ['Adelie', 'Gentoo'],
                             'birds.csv')  # fine


@pytest.mark.parametrize('column, key', [
    ('Consumer disputed?', 'consumer_disputed'), ('Sub-product', 'sub_product'),
    ('ZIP code', 'zip_code'), ('2nd try', 'c_2nd_try'), ('  a  b ', 'a_b')])
def test_feature_keys_are_tensorflow_names(column, key):
  assert dataset_spec.feature_key(column) == key
