"""Static views for the notebooks: HTML tables and inline SVG charts.

InteractiveContext.show(), tfdv.visualize_statistics and tfma.view render
JavaScript widgets that stay empty when a notebook runs headless, on GitHub
or in nbconvert. These helpers build plain HTML and SVG strings instead, from
the same artifacts, so every view also survives as a static output. No
plotting library is needed.
"""

import html
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

_TABLE_STYLE = ('border-collapse:collapse;font:12px sans-serif;'
                'margin:4px 0 12px 0')
_CELL_STYLE = 'border:1px solid #ccc;padding:2px 6px;text-align:%s'
COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b')


def _format(value) -> str:
  if isinstance(value, float):
    if math.isnan(value):
      return 'nan'
    return '%.4g' % value
  return str(value)


def html_table(rows: Sequence[Mapping[str, object]],
               columns: Optional[Sequence[str]] = None,
               caption: str = '') -> str:
  """An HTML table of dict rows (columns default to the first row's keys)."""
  rows = list(rows)
  if columns is None:
    columns = list(rows[0]) if rows else []
  out = ['<table class="static-view" style="%s">' % _TABLE_STYLE]
  if caption:
    out.append('<caption style="text-align:left;font-weight:bold">%s'
               '</caption>' % html.escape(caption))
  out.append('<tr>' + ''.join(
      '<th style="%s;background:#f3f3f3">%s</th>' % (
          _CELL_STYLE % 'left', html.escape(str(c))) for c in columns)
             + '</tr>')
  for row in rows:
    cells = []
    for column in columns:
      value = row.get(column, '')
      align = 'right' if isinstance(value, (int, float)) else 'left'
      cells.append('<td style="%s">%s</td>' % (
          _CELL_STYLE % align, html.escape(_format(value))))
    out.append('<tr>' + ''.join(cells) + '</tr>')
  out.append('</table>')
  return '\n'.join(out)


def statistics_rows(dataset) -> List[Dict[str, object]]:
  """One row per feature of a tensorflow_metadata DatasetFeatureStatistics."""
  rows = []
  for feature in dataset.features:
    name = '.'.join(feature.path.step) or feature.name
    row = {'feature': name}
    if feature.HasField('string_stats'):
      stats = feature.string_stats
      common = stats.common_stats
      row.update(type='string', unique=int(stats.unique),
                 top_values=', '.join(
                     '%s (%d)' % (v.value[:30], v.frequency)
                     for v in stats.top_values[:3]))
    elif feature.HasField('num_stats'):
      stats = feature.num_stats
      common = stats.common_stats
      row.update(type='int' if feature.type == feature.INT else 'float',
                 mean=float(stats.mean), std=float(stats.std_dev),
                 min=float(stats.min), max=float(stats.max),
                 zeros=int(stats.num_zeros))
    else:
      continue
    total = common.num_non_missing + common.num_missing
    # CsvExampleGen writes an empty cell as an empty value list, which TFDV
    # counts as present: for single-valued features count the values instead.
    with_value = (common.tot_num_values if common.max_num_values <= 1
                  else common.num_non_missing)
    row['count'] = int(with_value)
    row['missing_%'] = round(100.0 * (1 - with_value / max(total, 1)), 1)
    rows.append(row)
  return rows


def statistics_table(statistics_list, caption: str = '') -> str:
  """Per-feature summary of a DatasetFeatureStatisticsList (first dataset)."""
  dataset = statistics_list.datasets[0]
  columns = ['feature', 'type', 'count', 'missing_%', 'unique', 'top_values',
             'mean', 'std', 'min', 'max', 'zeros']
  return html_table(statistics_rows(dataset), columns, caption or
                    '%d examples' % dataset.num_examples)


def _ticks(lo: float, hi: float, target: int = 5) -> List[float]:
  """Round tick values (steps of 1, 2 or 5 times a power of ten) in [lo, hi]."""
  raw = (hi - lo) / max(target - 1, 1)
  magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
  best = []
  for factor in (1, 2, 5, 10):
    step = factor * magnitude
    first = math.ceil(lo / step - 1e-9)
    ticks = [round((first + i) * step, 10)
             for i in range(int((hi - first * step) / step + 1e-9) + 1)]
    if not best or abs(len(ticks) - target) < abs(len(best) - target):
      best = ticks
  return best


def line_chart(series: Mapping[str, Sequence[Tuple[float, float]]],
               title: str = '', xlabel: str = '', ylabel: str = '',
               width: int = 420, height: int = 300,
               xlim: Optional[Tuple[float, float]] = None,
               ylim: Optional[Tuple[float, float]] = None,
               diagonal: bool = False) -> str:
  """An SVG chart of named (x, y) series; single points are drawn as dots."""
  points = [p for values in series.values() for p in values
            if all(math.isfinite(v) for v in p)]
  if not points:
    points = [(0.0, 0.0), (1.0, 1.0)]
  xs, ys = [p[0] for p in points], [p[1] for p in points]
  x0, x1 = xlim or (min(xs), max(xs))
  y0, y1 = ylim or (min(ys), max(ys))
  if x1 == x0:
    x0, x1 = x0 - 1, x1 + 1
  if y1 == y0:
    y0, y1 = y0 - abs(y0) * 0.1 - 0.1, y1 + abs(y1) * 0.1 + 0.1
  elif not ylim:  # a margin, so the extremes do not sit on the frame
    y0, y1 = y0 - (y1 - y0) * 0.05, y1 + (y1 - y0) * 0.05
  left, right, top, bottom = 52, 12, 36, 40
  plot_w, plot_h = width - left - right, height - top - bottom - 16 * (
      (len(series) + 1) // 2)

  def sx(x):
    return left + (x - x0) / (x1 - x0) * plot_w

  def sy(y):
    return top + (1 - (y - y0) / (y1 - y0)) * plot_h

  out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">' % (
             width, height, width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="14" font-size="13" font-weight="bold">%s</text>' % (
             left, html.escape(title))]
  for fx in _ticks(x0, x1):  # grid and tick labels
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (
        sx(fx), top, sx(fx), top + plot_h))
    out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
        sx(fx), top + plot_h + 13, _format(fx)))
  for fy in _ticks(y0, y1):
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (
        left, sy(fy), left + plot_w, sy(fy)))
    out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (
        left - 4, sy(fy) + 4, _format(fy)))
  out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
             'stroke="#888"/>' % (left, top, plot_w, plot_h))
  if diagonal:
    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb" '
               'stroke-dasharray="4 3"/>' % (sx(x0), sy(y0), sx(x1), sy(y1)))
  for i, (name, values) in enumerate(series.items()):
    color = COLORS[i % len(COLORS)]
    values = [p for p in values if all(math.isfinite(v) for v in p)]
    if len(values) > 1:
      out.append('<polyline fill="none" stroke="%s" stroke-width="1.8" '
                 'points="%s"/>' % (color, ' '.join(
                     '%.1f,%.1f' % (sx(x), sy(y)) for x, y in values)))
    if len(values) <= 20:
      out += ['<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (
          sx(x), sy(y), color) for x, y in values]
    lx = left + (i % 2) * plot_w // 2
    ly = top + plot_h + 30 + 16 * (i // 2)
    out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>'
               '<text x="%d" y="%d">%s</text>' % (
                   lx, ly - 9, color, lx + 14, ly, html.escape(name)))
  if xlabel:
    out.append('<text x="%d" y="%d" text-anchor="end" fill="#555">%s</text>'
               % (left + plot_w, top - 4, html.escape(xlabel + ' →')))
  if ylabel:
    out.append('<text x="%d" y="%d" fill="#555">%s</text>' % (
        left - 48, top - 4, html.escape('↑ ' + ylabel)))
  out.append('</svg>')
  return '\n'.join(out)


def side_by_side(*svgs: str) -> str:
  """Several SVG strings next to each other, as one HTML snippet."""
  return '<div style="display:flex;flex-wrap:wrap;gap:12px">%s</div>' % (
      ''.join('<div>%s</div>' % svg for svg in svgs))


def slice_name(slice_key) -> str:
  """TFMA slice key ((('product', 'Mortgage'),) or ()) -> 'product:Mortgage'."""
  if not slice_key:
    return 'Overall'
  return ','.join('%s:%s' % (column, value.decode() if isinstance(
      value, bytes) else value) for column, value in slice_key)


def metric_values(metrics: Mapping) -> Dict[str, float]:
  """Flat {metric: value} from one slice of tfma.load_eval_result().slicing_metrics."""
  values = {}
  for per_class in metrics.values():          # output name
    for per_sub_key in per_class.values():    # sub key (class id, top k)
      for name, value in per_sub_key.items():
        if isinstance(value, dict) and 'doubleValue' in value:
          values[name] = float(value['doubleValue'])
  return values


def curve_points(plot: Mapping) -> Dict[str, List[Tuple[float, float]]]:
  """ROC and precision-recall points of a TFMA ConfusionMatrixPlot."""
  matrices = []
  for per_class in plot.values():
    for per_sub_key in per_class.values():
      if 'confusionMatrixAtThresholds' in per_sub_key:
        matrices = per_sub_key['confusionMatrixAtThresholds'].get(
            'matrices', [])
  roc, pr = [], []
  for m in matrices:
    tp, fp = m.get('truePositives', 0.0), m.get('falsePositives', 0.0)
    fn, tn = m.get('falseNegatives', 0.0), m.get('trueNegatives', 0.0)
    tpr = tp / (tp + fn) if tp + fn else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    roc.append((fpr, tpr))
    if tp:  # precision is undefined (or 0 by convention) with no true positive
      pr.append((tpr, tp / (tp + fp)))
  return {'roc': sorted(roc), 'pr': sorted(pr)}


def calibration_points(plot: Mapping) -> List[Tuple[float, float]]:
  """(mean prediction, observed rate) per non-empty calibration bucket."""
  buckets = []
  for per_class in plot.values():
    for per_sub_key in per_class.values():
      if 'calibrationHistogramBuckets' in per_sub_key:
        buckets = per_sub_key['calibrationHistogramBuckets'].get('buckets', [])
  points = []
  for bucket in buckets:
    weight = bucket.get('numWeightedExamples', 0.0)
    if weight:
      points.append((bucket.get('totalWeightedRefinedPrediction', 0.0) / weight,
                     bucket.get('totalWeightedLabel', 0.0) / weight))
  return points
