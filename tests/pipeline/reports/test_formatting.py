"""The one number formatter and slice picker, on values written by hand."""

import math

from pipeline.reports import formatting


def test_numbers_read_the_same_everywhere():
  assert formatting.number(None) == '-'
  assert formatting.number(math.nan) == 'n/a'
  assert formatting.number(0.726394) == '0.7264'
  assert formatting.number(10043.0) == '10043'     # a count stored as a double
  assert formatting.number(1.5e-05) == '1.5e-05'
  assert formatting.number([0.6581, 0.79432]) == '0.658-0.794'
  assert formatting.number(7) == '7'
  assert formatting.number(True) == 'yes' and formatting.number(False) == 'no'
  assert formatting.number('Mortgage') == 'Mortgage'
  assert formatting.number(0.123456, digits=2) == '0.12'


def test_differences_carry_their_sign():
  assert formatting.signed(0.01234) == '+0.01234'
  assert formatting.signed(-0.5) == '-0.5'
  assert formatting.signed(None) == '-' and formatting.signed(math.nan) == '-'


def test_largest_slices_per_feature_sorted_and_stable():
  sizes = {'Overall': 100, 'product:A': 5, 'product:B': 50, 'product:C': 50,
           'state:CA': 9, 'state:TX': 30, 'product:D': 1}
  assert formatting.largest_slices(sizes, sizes.get, per_feature=2) == [
      'product:B', 'product:C', 'state:TX', 'state:CA']
  metrics = {name: {'example_count': n} for name, n in sizes.items()}
  assert formatting.slices_by_count(metrics, per_feature=1) == [
      'Overall', 'product:B', 'state:TX']
  assert formatting.slice_feature('company_response:Closed: late') == (
      'company_response')
  assert formatting.is_small({'example_count': 99})
  assert not formatting.is_small({'example_count': 100})
