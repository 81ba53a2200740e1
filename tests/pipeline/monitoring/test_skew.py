"""The monitor's Jensen-Shannon divergence and its sampling-noise bound.

Expected values are worked by hand below, or come from scipy's
jensenshannon (squared: scipy returns the distance, the square root of the
divergence) with the code's log base 2; the bound is also checked for what
it claims: two samples of one population exceed it with the normal tail
probability of z.
"""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from pipeline.monitoring import skew

LN2 = math.log(2)
LOG2_3 = math.log2(3)


def test_js_divergence_hand_worked():
  assert skew.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)  # disjoint
  assert skew.js_divergence([0.2, 0.8], [0.2, 0.8]) == 0.0
  # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4):
  # KL(p||m) = 1/2 log2(2/3) + 1/2 log2(2) = 1 - 1/2 log2 3
  # KL(q||m) = log2(4/3) = 2 - log2 3
  # JS = (KL(p||m) + KL(q||m)) / 2 = 3/2 - 3/4 log2 3 = 0.311278
  expected = 1.5 - 0.75 * LOG2_3
  assert expected == pytest.approx(0.311278, abs=1e-6)
  assert skew.js_divergence([0.5, 0.5], [1, 0]) == pytest.approx(expected)
  # Counts are normalized first: the same distributions as counts.
  assert skew.js_divergence([5, 5], [8, 0]) == pytest.approx(expected)
  assert skew.js_divergence([1, 0], [1, 1]) == pytest.approx(expected)
  # (1/2, 1/2, 0) and (3/4, 1/4, 0), m = (5/8, 3/8, 0):
  # KL(p||m) = 1/2 log2(4/5) + 1/2 log2(4/3) = 0.0465546
  # KL(q||m) = 3/4 log2(6/5) + 1/4 log2(2/3) = 0.0510353 -> JS = 0.0487949
  assert skew.js_divergence([10, 10, 0], [15, 5, 0]) == pytest.approx(
      0.0487949, abs=1e-7)


def test_js_divergence_matches_scipy():
  rng = np.random.default_rng(7)
  for bins in (2, 5, 10, 30):
    for _ in range(20):
      p = rng.integers(0, 50, bins) * (rng.random(bins) < 0.8)  # some 0s
      q = rng.integers(0, 50, bins)
      p[0] += 1  # never an empty side
      assert skew.js_divergence(p, q) == pytest.approx(
          jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_noise_against_its_formula_by_hand():
  # bins = 2: 1 degree of freedom, whose chi-square quantile at tail 0.05 is
  # the square of the normal's two-sided 5% point: 1.959964^2 = 3.841459.
  # z = 1.6448536 has the one-sided tail 0.05. Sizes 100 and 100: the
  # effective size 1/(1/100 + 1/100) = 50. Bound = 3.841459 / (8 ln2 * 50)
  # = 3.841459 / 277.2589 = 0.0138551.
  assert skew.js_noise(2, 100, 100, 1.6448536) == pytest.approx(
      0.0138551, abs=1e-7)
  # bins = 3: 2 degrees of freedom, chi-square quantile -2 ln(tail) =
  # 5.991465 at tail 0.05; sizes 20 and 20 (effective 10):
  # 5.991465 / (8 ln2 * 10) = 0.1080483; ten times the rows, a tenth.
  assert skew.js_noise(3, 20, 20, 1.6448536) == pytest.approx(
      -2 * math.log(0.05) / (80 * LN2), rel=1e-6)
  assert skew.js_noise(3, 20, 20, 1.6448536) == pytest.approx(
      0.1080483, abs=1e-7)
  assert skew.js_noise(3, 200, 200, 1.6448536) == pytest.approx(
      0.01080483, abs=1e-8)
  # Unequal sizes: effective 1/(1/30 + 1/60) = 20, half the bound of 10.
  assert skew.js_noise(3, 30, 60, 1.6448536) == pytest.approx(
      0.1080483 / 2, abs=1e-7)
  # Nothing on a side: no evidence of a shift, the largest JS.
  assert skew.js_noise(10, 0, 500, 3.0) == 1.0
  assert skew.js_noise(10, 500, 0, 3.0) == 1.0


@pytest.mark.parametrize('count_a,count_b', [(1000, 1000), (1000, 400)])
def test_js_noise_is_exceeded_at_its_tail_rate(count_a, count_b):
  """Two samples of one 10-bin population, 4,000 times: JS is above the
  bound for z = 1.645 in about 5% of them (0.05 +- 0.0035 by sampling)."""
  rng = np.random.default_rng(count_b)
  p = np.array([.3, .2, .15, .1, .08, .06, .05, .03, .02, .01])
  a = rng.multinomial(count_a, p, size=4000)
  b = rng.multinomial(count_b, p, size=4000)
  js = jensenshannon(a, b, base=2, axis=1) ** 2
  exceeded = float(np.mean(js > skew.js_noise(10, count_a, count_b,
                                              1.6448536)))
  assert 0.035 <= exceeded <= 0.075, exceeded
