"""The terminal summary rendered from a dict, and its JSON read back."""

import json

from pipeline.reports import summary_text

SUMMARY = {
    'run_id': '2026-12-01T09:15:10.383276', 'span': 2,
    'input_csv': '/o/input/span-2/complaints.csv', 'output': '/o',
    'rows_per_split': {'train': 12000, 'eval': 3000},
    'anomalies': {},
    'metrics': {
        'Overall': {'example_count': 3000.0, 'auc': 0.77123,
                    'auc_ci95': [0.751, 0.792], 'precision': 0.5,
                    'recall': float('nan'), 'binary_accuracy': 0.8,
                    'calibration': 1.01},
        'company_response:Closed with non-monetary relief and more words': {
            'example_count': 80.0, 'auc': 0.6},
        'product:Mortgage': {'example_count': 900.0, 'auc': 0.7},
    },
    'blessed': True,
    'push': {'pushed': True, 'version': '17', 'destination': '/o/serving/c/17'},
    'components': [{'component': 'CsvExampleGen', 'state': 'COMPLETE',
                    'seconds': 12.34}],
    'wall_seconds': 99.5, 'report': '/o/reports/r.html',
}


def test_headers_are_whole_and_numbers_aligned():
  text = summary_text.render(SUMMARY)
  lines = text.splitlines()
  header = next(line for line in lines if line.startswith('slice '))
  for name in ('examples', 'AUC', 'AUC 95% CI', 'precision', 'recall',
               'accuracy', 'calibration'):
    assert f' {name}' in header
  overall = next(line for line in lines if line.startswith('Overall '))
  assert overall.split()[1:] == ['3000', '0.7712', '0.751-0.792', '0.5',
                                 'n/a', '0.8', '1.01']
  # Every row of the table ends in the same column.
  table = [line for line in lines if line.startswith(
      ('slice ', 'Overall ', 'product:', 'company_response:'))]
  assert len({len(line) for line in table}) == 1, table
  assert any(line.startswith('company_response:Closed with non-monetary') and
             '~' in line for line in lines)  # cut, and says so
  assert 'rows per split: train 12,000, eval 3,000' in text
  assert 'pushed: version 17 -> /o/serving/c/17' in text


def test_next_steps_name_the_output():
  text = summary_text.render(SUMMARY)
  assert 'make serve OUTPUT=/o' in text
  assert 'python -m pipeline lineage --output /o' in text
  assert 'open /o/reports/r.html' in text
  unpushed = dict(SUMMARY, push={'pushed': False})
  assert 'make serve' not in summary_text.render(unpushed)


def test_the_json_summary_is_found_after_other_output():
  noise = 'Trial 1 {"lr": 0.1}\n{\n  "not": "last"\n}\nmore noise\n'
  stdout = noise + json.dumps({'run_id': 'x', 'span': 1}, indent=2) + '\n'
  assert summary_text.parse_json_summary(stdout) == {'run_id': 'x', 'span': 1}
  assert summary_text.parse_json_summary('no json here') == {}


def test_the_window_and_the_resolvers_are_named():
  windowed = dict(SUMMARY, window_spans=[1, 2], components=[
      {'component': 'Resolver', 'node': 'training_window',
       'state': 'COMPLETE', 'seconds': 0.1},
      {'component': 'Resolver', 'node': 'latest_blessed_model_resolver',
       'state': 'COMPLETE', 'seconds': 0.1}])
  text = summary_text.render(windowed)
  assert ('trained on spans 1, 2 (the rolling window); validated and judged '
          'on span 2') in text
  assert '  training_window ' in text
  assert '  latest_blessed_model_resolver ' in text
  assert 'trained on spans' not in summary_text.render(
      dict(SUMMARY, window_spans=[2]))
