"""serving/client_row.py: a CSV row as predict_raw inputs, by the spec."""

import math

import pytest

from components import dataset_spec
from serving import client_row
from serving.client_types import UsageError


@pytest.fixture(scope='module')
def penguins():
  return dataset_spec.load('penguins')


def test_values_are_typed_per_column_and_missing_is_nan_or_empty(penguins):
  inputs = client_row.row_inputs(penguins, {
      'island': ' Biscoe ', 'bill_length_mm': '48.2', 'flipper_length_mm': 210,
      'sex': 'NA', 'species': 'Gentoo', 'body_mass_g': ''})
  assert inputs['island'] == 'Biscoe'
  assert inputs['bill_length_mm'] == 48.2
  assert inputs['flipper_length_mm'] == 210.0
  assert inputs['sex'] == ''                 # the spec's missing marker
  assert math.isnan(inputs['body_mass_g'])   # an empty number
  assert math.isnan(inputs['bill_depth_mm'])  # a column left out
  assert inputs['year'] == ''
  assert set(inputs) == {f.key for f in penguins.features}  # no label


def test_an_unknown_column_names_the_known_ones(penguins):
  with pytest.raises(UsageError, match=r"'beak' is not a column of the "
                     r'dataset spec penguins \(its features: island, sex'):
    client_row.row_inputs(penguins, {'beak': 3})


def test_a_numeric_column_must_hold_a_number(penguins):
  with pytest.raises(UsageError, match='body_mass_g is numeric, not'):
    client_row.row_inputs(penguins, {'body_mass_g': 'heavy'})
