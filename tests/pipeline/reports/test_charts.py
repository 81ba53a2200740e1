"""The SVG charts: well-formed, drawn where the axes say, nothing fetched."""

import re
import xml.etree.ElementTree as ET

from pipeline.reports import charts


def test_a_point_lands_where_the_axes_put_it():
  svg = charts.line_chart('t', 'x', 'y', [charts.Series(
      'model', [(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)])])
  ET.fromstring(svg)  # well-formed XML
  # Plot area: x from 52 to 380 - 16 = 364, y from 320 - 46 = 274 up to 30.
  path = re.search(r'<path d="([^"]+)"[^>]*><title>model', svg).group(1)
  assert path == 'M52.0,274.0 L208.0,152.0 L364.0,30.0'


def test_points_outside_the_range_are_clipped_to_it():
  svg = charts.line_chart('t', 'x', 'y', [charts.Series(
      'model', [(-1.0, 2.0), (0.5, 0.5)])])
  path = re.search(r'<path d="([^"]+)"[^>]*><title>model', svg).group(1)
  assert path.startswith('M52.0,30.0 ')


def test_nice_ranges_and_ticks():
  assert charts.nice_range(1, 10) == (0, 10)
  assert charts.nice_range(0.0, 0.4725) == (0.0, 0.5)


def test_evaluation_charts_draw_what_the_curves_have():
  curves = {'roc': [(0.0, 0.0), (0.2, 0.6), (1.0, 1.0)],
            'pr': [(0.5, 0.4), (1.0, 0.2)],
            'calibration': [{'mean_prediction': 0.1, 'observed_rate': 0.12,
                             'count': 30.0},
                            {'mean_prediction': 0.5, 'observed_rate': 0.4,
                             'count': 10.0}]}
  svgs = charts.evaluation_charts(curves)
  titles = [re.search(r'<title>(.*?)</title>', s).group(1) for s in svgs]
  assert titles == ['ROC curve', 'Precision-recall curve', 'Calibration']
  # Base rate of the PR chart: (0.12 * 30 + 0.4 * 10) / 40 = 0.19.
  assert 'base rate 0.190' in svgs[1]
  # Dot area grows with the bucket's examples: the heavier bucket is larger.
  radii = [float(r) for r in re.findall(r'<circle [^>]*r="([0-9.]+)"',
                                        svgs[2])]
  # r = 2 + 5 sqrt(count / heaviest): 7.0 and 2 + 5 sqrt(1/3) = 4.9.
  assert radii == [7.0, 4.9]
  assert charts.evaluation_charts({'roc': [], 'pr': [], 'calibration': []}) \
      == []
  for svg in svgs:
    assert not re.search(r'https?://(?!www\.w3\.org)', svg)


def test_training_curve_needs_two_epochs():
  assert charts.training_curve({'loss': [0.5]}, 'loss', 'bce') == ''
  svg = charts.training_curve({'loss': [0.6, 0.5, 0.4],
                               'val_loss': [0.7, 0.6, 0.55]}, 'loss', 'bce')
  assert svg.count('<path d="M') == 2 and 'eval loss' in svg
