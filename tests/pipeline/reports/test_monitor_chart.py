"""The monitor report's chart of a flagged feature, for each shape of
histogram a finding carries (labels worked out by hand), and `monitor
--dataset` refusing an unknown spec in one line."""

from pipeline import cli
from pipeline.reports import monitor_report


def _finding(bins, training, served):
  return {'feature': 'f', 'measure': 'Jensen-Shannon', 'distance': 0.25,
          'distribution': {'bins': bins, 'training': training,
                           'served': served}}


def test_cfpb_histogram_labels_its_edges():
  chart = monitor_report.distribution_chart(
      _finding([0.5, 10.0, float('inf')], [3, 1], [1, 3]))
  assert '0.5-10' in chart and '&gt;10' in chart


def test_spec_numeric_labels_interior_edges_and_missing():
  # Edges 2 and 5 make three value bins (<2, 2-5, >=5), then the missing.
  chart = monitor_report.distribution_chart(
      _finding([2.0, 5.0, 'missing'], [1, 2, 3, 4], [4, 3, 2, 1]))
  for label in ('&lt;2', '2-5', '&gt;=5', 'missing'):
    assert label in chart, label


def test_class_shares_label_each_class():
  chart = monitor_report.distribution_chart(
      _finding(['Adelie', 'Chinstrap', 'Gentoo'], [5, 2, 3], [1, 1, 8]))
  for label in ('Adelie', 'Chinstrap', 'Gentoo'):
    assert label in chart, label


def test_monitor_refuses_an_unknown_dataset_in_one_line(tmp_path, capsys):
  code = cli.main(['monitor', '--output', str(tmp_path), '--logs',
                   str(tmp_path / 'logs'), '--dataset', 'no-such-spec'])
  err = capsys.readouterr().err
  assert code == 2
  assert err.count('\n') == 1 and 'no-such-spec' in err, err
