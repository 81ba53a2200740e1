"""Monitoring by kind on small synthetic data (no pipeline run, no server).

A TrainedOn is built directly: the training rows are written as a span's
rows.csv (the spec's keys, as data/spec_frame.py writes them) and read back
by by_kind.read_span_values; the statistics and the schema are TFDV's own
(generate_statistics_from_dataframe, infer_schema). The served windows are
drawn from the same generator (clean) or with one column changed by
construction (shifted), so which features must alert is known in advance;
the one distance checked by value is worked by hand.
"""

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

from components import dataset_spec
from pipeline.monitoring import by_kind
from pipeline.monitoring import monitor
from pipeline.monitoring import served_data
from pipeline.monitoring import skew

THRESHOLDS = monitor.Thresholds(skew=0.1, drift=0.1, prediction=0.02,
                                numeric=0.02, noise_z=3.0)
COMPANIES = ['Flash Cab', 'Taxi Affiliation', 'Yellow Cab', 'Checker']
PAYMENTS = ['Cash', 'Credit Card']


def _taxi_rows(n: int, seed: int) -> pd.DataFrame:
  """Taxi-like trips in the taxi spec's keys (one population per call)."""
  rng = np.random.default_rng(seed)
  miles = rng.gamma(2.0, 1.5, n)
  frame = pd.DataFrame({
      'trip_miles': miles,
      'fare': 3.25 + 2.25 * miles + rng.normal(0, 1, n),
      'trip_seconds': miles * 180 + rng.normal(0, 60, n),
      'pickup_latitude': rng.normal(41.9, 0.03, n),
      'pickup_longitude': rng.normal(-87.65, 0.03, n),
      'dropoff_latitude': rng.normal(41.9, 0.03, n),
      'dropoff_longitude': rng.normal(-87.65, 0.03, n),
      'trip_start_hour': rng.integers(0, 24, n),
      'trip_start_day': rng.integers(1, 8, n),
      'trip_start_month': rng.integers(1, 13, n),
      'pickup_community_area': rng.integers(1, 10, n),
      'dropoff_community_area': rng.integers(1, 10, n),
      'dropoff_census_tract': rng.integers(100, 105, n),
      'payment_type': rng.choice(PAYMENTS, n, p=[0.5, 0.5]),
      'company': rng.choice(COMPANIES, n, p=[0.4, 0.3, 0.2, 0.1]),
  })
  return frame


def _trained_on(tmp_path, spec, frame: pd.DataFrame) -> monitor.TrainedOn:
  """What monitor.trained_on returns, from a frame instead of a run."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  span = tmp_path / 'span-1'
  span.mkdir()
  frame.to_csv(span / 'rows.csv', index=False)
  reference = by_kind.read_span_values([str(span / 'rows.csv')], spec)
  features = frame[[f.key for f in spec.features]]
  stats = tfdv.generate_statistics_from_dataframe(features)
  return monitor.TrainedOn(
      '1', tfdv.infer_schema(stats), stats.datasets[0], [], None,
      reference['values'], reference['categorical'],
      reference['class_counts'])


def _as_served(frame: pd.DataFrame, spec):
  """Rows as served_data gives them: numbers as floats, the rest strings."""
  numeric = set(by_kind.numeric_keys(spec))
  return [{f.key: (float(row[f.key]) if f.key in numeric else str(row[f.key]))
           for f in spec.features} for _, row in frame.iterrows()]


def _alerts(judged):
  return sorted(f['feature'] for f in judged['skew'] if f['alert'])


@pytest.fixture(scope='module')
def taxi():
  return dataset_spec.load('taxi')


def test_value_shift_hand_worked():
  # Reference 1..10 in 2 bins: the median 5.5 is the one edge, so the
  # training counts are (5, 5) and no missing value: shares (1/2, 1/2, 0).
  # Served (1, 2, missing, missing): shares (1/2, 0, 1/2). m = (1/2, 1/4,
  # 1/4); KL(p||m) = 1/2 log2(1) + 1/2 log2(2) = 1/2, KL(q||m) = 1/2 too,
  # so JS = 1/2.
  found = by_kind.value_shift('x', np.arange(1.0, 11.0),
                              np.array([1.0, 2.0, math.nan, math.nan]),
                              2, 0.02, 3.0)
  assert found['distribution']['bins'] == [5.5, 'missing']
  assert found['distribution']['training'] == [5, 5, 0]
  assert found['distribution']['served'] == [2, 0, 2]
  assert found['distance'] == pytest.approx(0.5)
  # 4 served values: far within the sampling noise, no alert.
  assert found['values_served'] == 4 and found['alert'] is False


def test_doubled_trip_miles_alerts_on_it_alone(tmp_path, taxi):
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  window = _taxi_rows(1000, 2)
  window['trip_miles'] = window['trip_miles'] * 2
  judged = monitor.judge_version(trained, _as_served(window, taxi),
                                 THRESHOLDS, taxi)
  assert _alerts(judged) == ['trip_miles']
  # Every kind was judged: numerics by JS, categoricals by L-infinity
  # (TFDV's for the strings, the by_kind one for the integer ones).
  measured = {f['feature']: f['measure'] for f in judged['skew']}
  assert {k: measured[k] for k in ('trip_miles', 'fare', 'company',
                                   'trip_start_hour')} == {
                                       'trip_miles': 'Jensen-Shannon',
                                       'fare': 'Jensen-Shannon',
                                       'company': 'L-infinity',
                                       'trip_start_hour': 'L-infinity'}
  assert set(measured) == {f.key for f in taxi.features}


def test_clean_taxi_window_is_quiet(tmp_path, taxi):
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  judged = monitor.judge_version(
      trained, _as_served(_taxi_rows(1000, 3), taxi), THRESHOLDS, taxi)
  assert _alerts(judged) == []
  assert judged['anomalies'] == {}


def test_a_categorical_moved_alerts_on_it_alone(tmp_path, taxi):
  """Cash 50% -> 80%: L-infinity 0.3, above the threshold 0.1."""
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  window = _taxi_rows(1000, 4)
  window['payment_type'] = np.random.default_rng(5).choice(
      PAYMENTS, len(window), p=[0.8, 0.2])
  judged = monitor.judge_version(trained, _as_served(window, taxi),
                                 THRESHOLDS, taxi)
  assert _alerts(judged) == ['payment_type']


def test_missing_values_are_a_shift_of_their_column(tmp_path, taxi):
  """fare empty on 40% of the window: its missing bin moves 0 -> 0.4."""
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  window = _taxi_rows(1000, 6)
  window.loc[window.index[:400], 'fare'] = math.nan
  judged = monitor.judge_version(trained, _as_served(window, taxi),
                                 THRESHOLDS, taxi)
  assert _alerts(judged) == ['fare']
  fare = [f for f in judged['skew'] if f['feature'] == 'fare'][0]
  assert fare['distribution']['served'][-1] == 400


def _text_spec(tmp_path):
  path = tmp_path / 'notes.yaml'
  path.write_text(textwrap.dedent("""\
      name: notes
      schema: notes.schema.pbtxt
      label: {column: outcome, task: binary, classes: ["0", "1"], positive: "1"}
      features:
        - {column: notes, kind: text}
        - {column: amount, kind: numeric}
        - {column: channel, kind: categorical}
      model: {name: notes, output: outcome_probability}
      card: {purpose: a test, intended_use: tests, limitations: none}
      """))
  return dataset_spec.load(str(path))


def _notes_rows(n: int, seed: int, words=(3, 12)) -> pd.DataFrame:
  rng = np.random.default_rng(seed)
  vocabulary = ['late', 'fee', 'charge', 'account', 'bank', 'call', 'never',
                'refund', 'card', 'loan']
  notes = [' '.join(rng.choice(vocabulary, rng.integers(*words)))
           for _ in range(n)]
  return pd.DataFrame({'notes': notes, 'amount': rng.normal(100, 20, n),
                       'channel': rng.choice(['web', 'phone'], n)})


def test_text_length_shift_alerts_on_that_column(tmp_path):
  spec = _text_spec(tmp_path)
  trained = _trained_on(tmp_path, spec, _notes_rows(2000, 1))
  clean = monitor.judge_version(
      trained, _as_served(_notes_rows(1000, 2), spec), THRESHOLDS, spec)
  assert _alerts(clean) == []
  longer = _as_served(_notes_rows(1000, 3, words=(12, 30)), spec)
  judged = monitor.judge_version(trained, longer, THRESHOLDS, spec)
  assert _alerts(judged) == ['notes_length']
  names = {f['feature'] for f in judged['skew']}
  assert names == {'notes_length', 'amount', 'channel'}


def test_a_text_length_is_compared_among_the_texts_present():
  """Twice the share of empty texts, the same lengths otherwise: no length
  shift (a numeric column's missing bin would count it); the lengths of
  the present texts doubled: a shift however many texts are empty."""
  reference = np.array([1.0, 2.0, 3.0, 4.0] * 50 + [np.nan] * 200)
  emptier = np.array([1.0, 2.0, 3.0, 4.0] * 25 + [np.nan] * 300)
  same = by_kind.value_shift('t_length', reference, emptier, 4, 0.02, 3.0,
                             present_only=True)
  assert same['distance'] == 0.0 and not same['alert']
  assert by_kind.value_shift('t_length', reference, emptier, 4, 0.02,
                             3.0)['distance'] > 0
  longer = np.array([2.0, 4.0, 6.0, 8.0] * 25 + [np.nan] * 300)
  assert by_kind.value_shift('t_length', reference, longer, 4, 0.02, 3.0,
                             present_only=True)['alert']


def test_token_lengths_by_hand():
  lengths = by_kind.token_lengths(['a b  c', '', None, '  one ', 'x\ty'])
  assert lengths[[0, 3, 4]].tolist() == [3.0, 1.0, 2.0]
  assert np.isnan(lengths[[1, 2]]).all()


def _penguin_frame(n: int, seed: int, shares) -> pd.DataFrame:
  rng = np.random.default_rng(seed)
  return pd.DataFrame({
      'island': rng.choice(['Biscoe', 'Dream', 'Torgersen'], n),
      'sex': rng.choice(['male', 'female'], n),
      'bill_length_mm': rng.normal(44, 5, n),
      'bill_depth_mm': rng.normal(17, 2, n),
      'flipper_length_mm': rng.normal(200, 14, n),
      'body_mass_g': rng.normal(4200, 800, n),
      'year': rng.choice([2007, 2008, 2009], n),
      'species': rng.choice(3, n, p=shares),
  })


def _predictions(n: int, seed: int, shares):
  """Probability rows whose argmax is drawn with the given class shares."""
  rng = np.random.default_rng(seed)
  rows = []
  for winner in rng.choice(3, n, p=shares):
    p = np.full(3, 0.1)
    p[winner] = 0.8
    rows.append(p.tolist())
  return rows


def test_multiclass_prediction_shift_by_class_shares(tmp_path):
  spec = dataset_spec.load('penguins')
  shares = [0.44, 0.20, 0.36]
  trained = _trained_on(tmp_path, spec, _penguin_frame(2000, 1, shares))
  window = _penguin_frame(1000, 2, shares)
  rows = _as_served(window, spec)
  for row, p in zip(rows, _predictions(1000, 3, shares)):
    row[served_data.PREDICTION] = p
  assert _alerts(monitor.judge_version(trained, rows, THRESHOLDS,
                                       spec)) == []
  moved = [0.20, 0.20, 0.60]
  for row, p in zip(rows, _predictions(1000, 4, moved)):
    row[served_data.PREDICTION] = p
  judged = monitor.judge_version(trained, rows, THRESHOLDS, spec)
  assert _alerts(judged) == [skew.PREDICTED_CLASS]
  found = [f for f in judged['skew']
           if f['feature'] == skew.PREDICTED_CLASS][0]
  # Independently: scipy's Jensen-Shannon distance, squared, base 2, of
  # the training labels' and the served argmaxes' counts per class.
  from scipy.spatial.distance import jensenshannon  # pylint: disable=g-import-not-at-top
  labels = np.bincount(_penguin_frame(2000, 1, shares)['species'],
                       minlength=3)
  served = np.array([sum(1 for row in rows
                         if int(np.argmax(row[served_data.PREDICTION])) == k)
                     for k in range(3)])
  assert found['distance'] == pytest.approx(
      jensenshannon(labels, served, base=2) ** 2, abs=1e-12)
  assert found['distance'] > 0.02


def test_numeric_drift_between_windows(taxi):
  """The previous window's values are the reference: doubled miles drift,
  a second clean window does not."""
  before = by_kind.row_values(_as_served(_taxi_rows(1000, 7), taxi), taxi)
  clean = by_kind.row_values(_as_served(_taxi_rows(1000, 8), taxi), taxi)
  moved_frame = _taxi_rows(1000, 9)
  moved_frame['trip_miles'] *= 2
  moved = by_kind.row_values(_as_served(moved_frame, taxi), taxi)
  assert [d['feature'] for d in monitor.numeric_drift(
      before, clean, THRESHOLDS, taxi) if d['alert']] == []
  assert [d['feature'] for d in monitor.numeric_drift(
      before, moved, THRESHOLDS, taxi) if d['alert']] == ['trip_miles']


def test_per_feature_threshold_applies(tmp_path, taxi):
  """trip_miles doubled stays quiet under a per-feature threshold of 1
  (JS is at most 1), the only change from the alerting test."""
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  window = _taxi_rows(1000, 2)
  window['trip_miles'] = window['trip_miles'] * 2
  lenient = monitor.Thresholds(skew=0.1, drift=0.1, prediction=0.02,
                               numeric=0.02, noise_z=3.0,
                               per_feature={'trip_miles': 1.0})
  judged = monitor.judge_version(trained, _as_served(window, taxi),
                                 lenient, taxi)
  assert _alerts(judged) == []


def test_an_integer_categorical_moved_alerts(tmp_path, taxi):
  """trip_start_hour (INT in the statistics: TFDV measures no L-infinity)
  all at 17h in 60% of the window: its share of 17 moves from about 1/24
  to 0.6 + 0.4/24, L-infinity about 0.58."""
  trained = _trained_on(tmp_path, taxi, _taxi_rows(2000, 1))
  window = _taxi_rows(1000, 10)
  window.loc[window.index[:600], 'trip_start_hour'] = 17
  judged = monitor.judge_version(trained, _as_served(window, taxi),
                                 THRESHOLDS, taxi)
  assert _alerts(judged) == ['trip_start_hour']
  hour = [f for f in judged['skew'] if f['feature'] == 'trip_start_hour'][0]
  train_share = float((_taxi_rows(2000, 1)['trip_start_hour'] == 17).mean())
  served_share = float((window['trip_start_hour'] == 17).mean())
  assert hour['distance'] == pytest.approx(served_share - train_share)


def _predict_log(inputs, outputs, version=3):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  log = prediction_log_pb2.PredictionLog()
  log.log_metadata.model_spec.name = 'penguins'
  log.log_metadata.model_spec.version.value = version
  for key, value in inputs.items():
    log.predict_log.request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  for key, value in outputs.items():
    log.predict_log.response.outputs[key].CopyFrom(
        tf.make_tensor_proto(value))
  return log


def test_spec_rows_from_predict_raw_keep_numbers():
  """predict_raw's typed inputs (floats, bytes) as rows: numbers stay
  numbers, NaN stays missing, strings decode, and a multi-class output is
  each row's list of probabilities."""
  spec = dataset_spec.load('penguins')
  inputs = {'island': np.array([b'Dream', b'']),
            'sex': np.array([b'male', b'female']),
            'bill_length_mm': np.array([39.5, np.nan], dtype=np.float32),
            'bill_depth_mm': np.array([17.0, 18.0], dtype=np.float32),
            'flipper_length_mm': np.array([181.0, 190.0], dtype=np.float32),
            'body_mass_g': np.array([3750.0, 3800.0], dtype=np.float32),
            'year': np.array([b'2007', b'2008'])}
  outputs = {spec.output_key: np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
                                       dtype=np.float32)}
  rows = served_data.to_rows([_predict_log(inputs, outputs)], 'penguins',
                             spec).rows
  assert len(rows) == 2
  assert rows[0]['bill_length_mm'] == pytest.approx(39.5)
  assert math.isnan(rows[1]['bill_length_mm'])
  assert rows[0]['island'] == 'Dream' and rows[1]['island'] == ''
  assert rows[1]['year'] == '2008'
  assert rows[0][served_data.PREDICTION] == pytest.approx([0.7, 0.2, 0.1])
  assert rows[0][served_data.VERSION] == 3
  # The join key was not sent: '' (a string column), not a number.
  assert rows[0][spec.join_key] == ''


def test_spec_rows_from_examples_keep_numbers():
  """serving_default's tf.Examples: a float list is a number, an int64
  categorical its string, an absent numeric NaN."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = dataset_spec.load('penguins')
  example = tf.train.Example()
  example.features.feature['island'].bytes_list.value.append(b'Biscoe')
  example.features.feature['body_mass_g'].float_list.value.append(4100.0)
  example.features.feature['year'].int64_list.value.append(2009)
  example.features.feature['row_key'].int64_list.value.append(12345)
  inputs = {'examples': np.array([example.SerializeToString()])}
  outputs = {spec.output_key: np.array([[0.2, 0.5, 0.3]], dtype=np.float32)}
  row = served_data.to_rows([_predict_log(inputs, outputs)], None,
                            spec).rows[0]
  assert row['body_mass_g'] == pytest.approx(4100.0)
  assert math.isnan(row['bill_length_mm'])
  assert row['year'] == '2009' and row['row_key'] == '12345'
  assert row['island'] == 'Biscoe' and row['sex'] == ''
