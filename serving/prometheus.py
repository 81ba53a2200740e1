"""Metrics with TF Serving's names, rendered as its Prometheus page.

TF Serving exports TensorFlow's monitoring registry at the path set by
`--monitoring_config_file` (`prometheus_config { enable: true ... }`). Metric
names are the TensorFlow ones with '/' turned into ':', e.g.
`:tensorflow:serving:request_count`; histograms use TensorFlow's exponential
bucket limits. Same names mean the same dashboards and alerts work against
either server.
"""

import bisect
import math
import re
import threading
from typing import Dict, List, Sequence, Tuple


def exponential_buckets(scale: float, growth: float, count: int
                        ) -> List[float]:
  return [scale * growth ** i for i in range(count)]


def _format_number(value: float) -> str:
  """absl::StrCat(double): %g with 6 significant digits."""
  if math.isinf(value):
    return 'inf' if value > 0 else '-inf'
  text = '%.6g' % value
  return text


def prometheus_name(name: str) -> str:
  cleaned = re.sub(r'[^a-zA-Z0-9_]', ':', name)
  return '_' + cleaned if cleaned[:1].isdigit() else cleaned


def _label_name(name: str) -> str:
  cleaned = re.sub(r'[^a-zA-Z0-9]', '_', name)
  return '_' + cleaned if cleaned[:1].isdigit() else cleaned


def _label_value(value: str) -> str:
  return str(value).replace('\\', '\\\\').replace('"', '\\"')


class _Metric:
  def __init__(self, name: str, description: str, labels: Sequence[str]):
    self.name = name
    self.description = description
    self.labels = tuple(labels)
    self._lock = threading.Lock()

  def _labels_text(self, values: Tuple[str, ...]) -> List[str]:
    return [f'{_label_name(n)}="{_label_value(v)}"'
            for n, v in zip(self.labels, values)]


class Counter(_Metric):
  """A cumulative int64 counter (monitoring::Counter<N>)."""

  def __init__(self, name, description, labels=()):
    super().__init__(name, description, labels)
    self._cells: Dict[Tuple[str, ...], int] = {}

  def increment(self, *label_values: str, by: int = 1) -> None:
    with self._lock:
      self._cells[label_values] = self._cells.get(label_values, 0) + by

  def value(self, *label_values: str) -> int:
    return self._cells.get(tuple(label_values), 0)

  def render(self) -> List[str]:
    name = prometheus_name(self.name)
    lines = [f'# TYPE {name} counter']
    with self._lock:
      cells = sorted(self._cells.items())
    for values, count in cells:
      lines.append(f'{name}{{{",".join(self._labels_text(values))}}} {count}')
    return lines


class Gauge(Counter):
  """An int64 gauge (monitoring::Gauge<int64, N>)."""

  def set(self, *label_values: str, value: int) -> None:
    with self._lock:
      self._cells[label_values] = value

  def remove(self, *label_values: str) -> None:
    with self._lock:
      self._cells.pop(label_values, None)

  def render(self) -> List[str]:
    lines = super().render()
    lines[0] = lines[0].replace(' counter', ' gauge')
    return lines


class Sampler(_Metric):
  """A histogram (monitoring::Sampler<N>) with fixed bucket limits."""

  def __init__(self, name, description, labels, limits: Sequence[float]):
    super().__init__(name, description, labels)
    self.limits = list(limits)
    self._cells: Dict[Tuple[str, ...], List] = {}

  def add(self, *label_values: str, value: float) -> None:
    index = bisect.bisect_right(self.limits, value)
    with self._lock:
      cell = self._cells.get(label_values)
      if cell is None:
        cell = self._cells[label_values] = [
            [0] * (len(self.limits) + 1), 0.0]
      cell[0][index] += 1
      cell[1] += value

  def count(self, *label_values: str) -> int:
    cell = self._cells.get(tuple(label_values))
    return sum(cell[0]) if cell else 0

  def render(self) -> List[str]:
    name = prometheus_name(self.name)
    lines = [f'# TYPE {name} histogram']
    with self._lock:
      cells = sorted((k, (list(v[0]), v[1])) for k, v in self._cells.items())
    for values, (buckets, total) in cells:
      labels = self._labels_text(values)
      prefix = f'{name}_bucket{{' + ''.join(label + ',' for label in labels)
      cumulative = 0
      for i, count in enumerate(buckets):
        cumulative += count
        limit = (_format_number(self.limits[i]) if i < len(self.limits)
                 else '+Inf')
        lines.append(f'{prefix}le="{limit}"}} {cumulative}')
      joined = ','.join(labels)
      lines.append(f'{name}_sum{{{joined}}} {_format_number(total)}')
      lines.append(f'{name}_count{{{joined}}} {cumulative}')
    return lines


class Metrics:
  """The metrics this server records, named as TensorFlow / TF Serving do."""

  def __init__(self):
    latency_buckets = exponential_buckets(10, 1.8, 33)
    self.request_count = Counter(
        '/tensorflow/serving/request_count', 'The total number of requests.',
        ('model_name', 'status'))
    self.request_latency = Sampler(
        '/tensorflow/serving/request_latency',
        'Distribution of wall time (in microseconds) for Tensorflow Serving '
        'request.', ('model_name', 'API', 'entrypoint'), latency_buckets)
    self.runtime_latency = Sampler(
        '/tensorflow/serving/runtime_latency',
        'Distribution of wall time (in microseconds) for Tensorflow runtime.',
        ('model_name', 'API', 'runtime'), latency_buckets)
    self.example_counts = Sampler(
        '/tensorflow/serving/request_example_counts',
        'The number of tensorflow.Examples per request.', ('model',),
        exponential_buckets(1, 2, 15))
    self.example_count_total = Counter(
        '/tensorflow/serving/request_example_count_total',
        'The total number of tensorflow.Examples.', ('model',))
    self.load_attempt_count = Counter(
        '/tensorflow/cc/saved_model/load_attempt_count',
        'The number of times a SavedModel was successfully loaded.',
        ('model_path', 'status'))
    self.load_latency = Counter(
        '/tensorflow/cc/saved_model/load_latency',
        'Latency in microseconds for SavedModels that were successfully '
        'loaded.', ('model_path',))
    self.warmup_latency = Sampler(
        '/tensorflow/serving/model_warmup_latency',
        'Distribution of wall time (in microseconds) for warming up the '
        'model.', ('model_path', 'status'), latency_buckets)
    self.queuing_latency = Sampler(
        '/tensorflow/serving/batching_session/queuing_latency',
        'Distribution of wall time spent (in microseconds) in queuing',
        ('thread_pool_name',), exponential_buckets(100, 1.2, 52))
    self.wrapped_run_count = Counter(
        '/tensorflow/serving/batching_session/wrapped_run_count',
        'Total count of run calls on the wrapped session')
    # Extensions (TF Serving has no request-log collector): records the
    # logging_config collectors wrote, and dropped (queue_full,
    # write_error, closed).
    self.request_log_written = Counter(
        '/tensorflow/serving/request_log_written_count',
        'The number of request log records written.', ('model_name',))
    self.request_log_dropped = Counter(
        '/tensorflow/serving/request_log_dropped_count',
        'The number of sampled request log records dropped.',
        ('model_name', 'reason'))
    self.all = [self.request_count, self.request_latency,
                self.runtime_latency, self.example_counts,
                self.example_count_total, self.load_attempt_count,
                self.load_latency, self.warmup_latency, self.queuing_latency,
                self.wrapped_run_count, self.request_log_written,
                self.request_log_dropped]

  def record_request(self, model_name: str, api: str, entrypoint: str,
                     code: str, latency_micros: float) -> None:
    if code == 'OK':
      self.request_latency.add(model_name, api, entrypoint,
                               value=latency_micros)
    self.request_count.increment(model_name, code)

  def render(self) -> str:
    """The Prometheus text page (metrics sorted by TensorFlow name)."""
    lines: List[str] = []
    for metric in sorted(self.all, key=lambda m: m.name):
      lines.extend(metric.render())
    return '\n'.join(lines) + '\n'
