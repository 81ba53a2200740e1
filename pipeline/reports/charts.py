"""Line charts as inline SVG strings: the one chart library of the project.

The run report, the monitoring pages and the notebooks draw with it. Inline
SVG needs no plotting library and loads nothing, so a page stays
self-contained and a notebook's charts survive as static outputs (GitHub,
nbconvert), where JavaScript widgets stay empty.
"""

import html
import math
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

WIDTH, HEIGHT = 380, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 16, 30, 46
TICKS = 6  # gridlines per axis


class Series(NamedTuple):
  label: str
  points: Sequence[Tuple[float, float]]
  color: str = '#1f5fa8'  # MODEL_COLOR
  dashed: bool = False
  markers: bool = False
  weights: Sequence[float] = ()  # per point: marker area grows with it


def _scale(value: float, low: float, high: float, start: float,
           end: float) -> float:
  return start + (value - low) / ((high - low) or 1.0) * (end - start)


def nice_range(low: float, high: float) -> Tuple[float, float]:
  """The range widened to multiples of a round step (1, 2, 2.5 or 5 x 10^k)."""
  step = _step(low, high)
  return (math.floor(low / step + 1e-9) * step,
          math.ceil(high / step - 1e-9) * step)


def _step(low: float, high: float) -> float:
  span = (high - low) or 1.0
  raw = span / (TICKS - 1)
  power = 10 ** math.floor(math.log10(raw))
  return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _ticks(low: float, high: float) -> List[float]:
  step = _step(low, high)
  first = math.ceil(low / step - 1e-9)
  return [i * step for i in range(first, int(math.floor(high / step + 1e-9))
                                  + 1)]


def line_chart(title: str, x_label: str, y_label: str, series: List[Series],
               legend: str = 'bottom-right',
               x_range: Tuple[float, float] = (0.0, 1.0),
               y_range: Tuple[float, float] = (0.0, 1.0)) -> str:
  """A chart with gridlines, axes, legend and series (clipped to the ranges).

  Args:
    title: shown above the chart.
    x_label: below the x axis.
    y_label: left of the y axis.
    series: drawn in order, each a path (plus dots if markers).
    legend: 'bottom-right', 'top-right' or 'top-left': where no curve runs.
  """
  left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
  top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
  x = lambda v: _scale(v, x_range[0], x_range[1], left, right)
  y = lambda v: _scale(v, y_range[0], y_range[1], bottom, top)
  esc = html.escape
  # No xmlns: inline SVG in HTML5 needs none (and the page links nothing).
  parts = [f'<svg width="{WIDTH}" '
           f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{esc(title)}" class="plot">',
           f'<title>{esc(title)}</title>',
           f'<rect x="{left}" y="{top}" width="{right - left}" '
           f'height="{bottom - top}" fill="#fff" stroke="#999"/>']
  for tick in _ticks(*x_range):
    parts.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" '
                 f'y2="{bottom}" stroke="#e5e5e5"/>')
    parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 16}" font-size="11" '
                 f'text-anchor="middle">{tick:.3g}</text>')
  for tick in _ticks(*y_range):
    parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{right}" '
                 f'y2="{y(tick):.1f}" stroke="#e5e5e5"/>')
    parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
                 f'text-anchor="end">{tick:.3g}</text>')
  parts.append(f'<text x="{(left + right) / 2:.1f}" y="{HEIGHT - 8}" '
               f'font-size="12" text-anchor="middle">{esc(x_label)}</text>')
  parts.append(f'<text x="14" y="{(top + bottom) / 2:.1f}" font-size="12" '
               f'text-anchor="middle" transform="rotate(-90 14 '
               f'{(top + bottom) / 2:.1f})">{esc(y_label)}</text>')
  parts.append(f'<text x="{(left + right) / 2:.1f}" y="18" font-size="13" '
               f'font-weight="bold" text-anchor="middle">{esc(title)}</text>')
  for i, s in enumerate(series):
    clipped = [(min(max(px, x_range[0]), x_range[1]),
                min(max(py, y_range[0]), y_range[1])) for px, py in s.points]
    if not clipped:
      continue
    path = ' '.join(f'{"M" if j == 0 else "L"}{x(px):.1f},{y(py):.1f}'
                    for j, (px, py) in enumerate(clipped))
    dash = ' stroke-dasharray="5,4"' if s.dashed else ''
    parts.append(f'<path d="{path}" fill="none" stroke="{s.color}" '
                 f'stroke-width="2"{dash}><title>{esc(s.label)}</title>'
                 '</path>')
    if s.markers:
      heaviest = max(s.weights, default=0) or 1.0
      radii = ([2.0 + 5.0 * math.sqrt(w / heaviest) for w in s.weights]
               if s.weights else [3.5] * len(clipped))
      parts += [f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="{r:.1f}" '
                f'fill="{s.color}" fill-opacity="0.8"/>'
                for (px, py), r in zip(clipped, radii)]
    lx = left + 10 if legend.endswith('left') else right - 150
    ly = (top + 16 + 16 * i if legend.startswith('top')
          else bottom - 10 - 16 * (len(series) - 1 - i))
    parts.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 20}" '
                 f'y2="{ly - 4}" stroke="{s.color}" stroke-width="2"{dash}/>')
    parts.append(f'<text x="{lx + 25}" y="{ly}" font-size="11">'
                 f'{esc(s.label)}</text>')
  parts.append('</svg>')
  return '\n'.join(parts)


MODEL_COLOR = '#1f5fa8'
SECOND_COLOR = '#c0561b'
REFERENCE_COLOR = '#999'


def side_by_side(*svgs: str) -> str:
  """Charts next to each other, wrapping on narrow screens."""
  return ('<div class="plots" style="display:flex;flex-wrap:wrap;gap:16px">'
          + ''.join(svgs) + '</div>')


def training_curve(history: Dict[str, List[float]], metric: str,
                   y_label: str) -> str:
  """A metric per epoch, train and eval (Keras' History); '' below 2 epochs."""
  train = history.get(metric, [])
  if len(train) < 2:
    return ''
  series = [Series(f'train {metric}', [(i + 1, v) for i, v in
                                       enumerate(train)])]
  if history.get('val_' + metric):
    series.append(Series(f'eval {metric}', [
        (i + 1, v) for i, v in enumerate(history['val_' + metric])],
                         SECOND_COLOR))
  values = [v for s in series for _, v in s.points]
  low = 0.0 if min(values) >= 0 else min(values)
  return line_chart(f'Training {metric}', 'epoch', y_label, series,
                    legend='top-right', x_range=nice_range(1, len(train)),
                    y_range=nice_range(low, max(values) * 1.05 or 1.0))


def evaluation_charts(curves: Dict[str, Any]) -> List[str]:
  """ROC, precision-recall and calibration charts of metadata.evaluation's
  load_curves (those it has points for)."""
  calibration = curves.get('calibration') or []
  labels = sum(b['observed_rate'] * b['count'] for b in calibration)
  count = sum(b['count'] for b in calibration)
  base_rate = labels / count if count else None
  plots = []
  if curves.get('roc'):
    plots.append(line_chart(
        'ROC curve', 'false positive rate', 'true positive rate',
        [Series('chance', [(0, 0), (1, 1)], REFERENCE_COLOR, dashed=True),
         Series('model', sorted(curves['roc']))]))
  if curves.get('pr'):
    series = [Series('model', sorted(curves['pr']))]
    if base_rate is not None:
      series.insert(0, Series(
          f'base rate {base_rate:.3f}', [(0, base_rate), (1, base_rate)],
          REFERENCE_COLOR, dashed=True))
    plots.append(line_chart('Precision-recall curve', 'recall', 'precision',
                            series, legend='top-right'))
  if calibration:
    plots.append(line_chart(
        'Calibration', 'mean predicted probability', 'observed dispute rate',
        [Series('perfect', [(0, 0), (1, 1)], REFERENCE_COLOR, dashed=True),
         Series('model (dot area: examples)',
                [(b['mean_prediction'], b['observed_rate'])
                 for b in calibration], SECOND_COLOR, markers=True,
                weights=[b['count'] for b in calibration])],
        legend='top-left'))
  return plots


MIN_BAR_CHART_HEIGHT = HEIGHT - MARGIN_BOTTOM


def bar_chart(title: str, labels: Sequence[str],
              series: Sequence[Tuple[str, Sequence[float], str]],
              value_label: str = 'share',
              intervals: Sequence[Sequence[Tuple[float, float]]] = ()
              ) -> str:
  """Horizontal bars, one group per label, one bar per series.

  Args:
    title: shown above the chart.
    labels: the categories (e.g. a feature's values), top to bottom.
    series: (name, one value per label, colour), e.g. training and served.
    value_label: below the value axis.
    intervals: per series, one (low, high) per label drawn as a whisker
      over its bar (a 95% interval); fewer series: none for the rest.
  """
  esc = html.escape
  bar, gap, label_width = 9, 8, 150
  width = WIDTH + label_width - MARGIN_LEFT
  group = bar * len(series) + gap
  top, left, right = MARGIN_TOP + 16 * len(series), label_width, width - 16
  # Few labels: the groups spread out to the height of a line chart's
  # plot area, so every chart on a page is laid out at a readable size.
  spare = MIN_BAR_CHART_HEIGHT - (top + group * len(labels) + 34)
  if spare > 0 and labels:
    group += spare / len(labels)
  height = round(top + group * len(labels) + 34)
  highest = max([v for _, values, _ in series for v in values] +
                [high for found in intervals for _, high in found
                 if high == high] + [1e-9])
  x_range = nice_range(0.0, highest)
  x = lambda v: _scale(v, x_range[0], x_range[1], left, right)
  parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} '
           f'{height}" role="img" aria-label="{esc(title)}" class="plot">',
           f'<title>{esc(title)}</title>',
           f'<text x="{width / 2:.1f}" y="18" font-size="13" '
           f'font-weight="bold" text-anchor="middle">{esc(title)}</text>']
  for i, (name, _, color) in enumerate(series):
    parts.append(f'<rect x="{left}" y="{MARGIN_TOP + 16 * i - 9}" width="12" '
                 f'height="10" fill="{color}"/><text x="{left + 16}" '
                 f'y="{MARGIN_TOP + 16 * i}" font-size="11">{esc(name)}</text>')
  bottom = top + group * len(labels)
  for tick in _ticks(*x_range):
    parts.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" '
                 f'y2="{bottom:.1f}" stroke="#e5e5e5"/><text x="{x(tick):.1f}" '
                 f'y="{bottom + 14:.1f}" font-size="11" text-anchor="middle">'
                 f'{tick:.3g}</text>')
  for row, label in enumerate(labels):
    y0 = top + row * group
    short = label if len(label) <= 24 else label[:23] + '~'
    parts.append(f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4:.1f}"'
                 f' font-size="11" text-anchor="end"><title>{esc(label)}'
                 f'</title>{esc(short)}</text>')
    for i, (name, values, color) in enumerate(series):
      parts.append(f'<rect x="{left}" y="{y0 + i * bar:.1f}" '
                   f'width="{max(x(values[row]) - left, 0):.1f}" '
                   f'height="{bar - 1}" fill="{color}"><title>{esc(name)} '
                   f'{values[row]:.3f}</title></rect>')
      if i < len(intervals) and intervals[i][row][0] == intervals[i][row][0]:
        low, high = intervals[i][row]
        middle = y0 + i * bar + (bar - 1) / 2
        parts.append(
            f'<path d="M{x(max(low, x_range[0])):.1f},{middle:.1f} '
            f'H{x(high):.1f} M{x(max(low, x_range[0])):.1f},'
            f'{middle - 3:.1f} V{middle + 3:.1f} M{x(high):.1f},'
            f'{middle - 3:.1f} V{middle + 3:.1f}" stroke="#222" '
            f'fill="none"><title>{esc(name)} 95% interval {low:.3f}-'
            f'{high:.3f}</title></path>')
  parts.append(f'<text x="{(left + right) / 2:.1f}" y="{height - 4}" '
               f'font-size="12" text-anchor="middle">{esc(value_label)}</text>')
  parts.append('</svg>')
  return '\n'.join(parts)
