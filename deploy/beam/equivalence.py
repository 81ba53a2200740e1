"""Whether two pipeline runs computed the same thing (pools vs DirectRunner).

Reads each run's newest artifacts through ML Metadata (pipeline.metadata)
and compares what Beam computed:
- ExampleGen: the rows of each split, as a multiset of parsed tf.Examples
  (runners shard and order files differently; the rows must be the same);
- StatisticsGen: every number of every split's statistics, exact except
  floating-point sums, which may differ in the last bits with the order
  bundles are merged in (relative tolerance STATS_RTOL), and the histograms,
  read off TFDV's approximate quantile sketches, which depend on how rows
  were split into bundles (to the sketch's own error, SKETCH_EPSILON);
- Transform: the vocabulary files, byte for byte, and the transformed rows
  of each split as a multiset (exact);
- Evaluator: its metrics per slice against TFMA run again on the
  DirectRunner over the same model and eval rows (within METRIC_ATOL):
  the Beam work of the Evaluator, with the model held fixed. The two runs'
  models themselves differ: the Trainer reads Transform's shard files in
  the order of their names, and which bundle's rows land in which shard
  depends on which worker finished first, so the same rows reach the model
  in another order (the runs' AUCs are recorded side by side, not equal).

`compare` returns one record per check with what was found, so a test
asserts on it and a benchmark writes it down.
"""

import glob
import hashlib
import math
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from pipeline import paths as project_paths
from pipeline.metadata import evaluation
from pipeline.metadata import statistics
from pipeline.metadata import store as metadata_store

STATS_RTOL = 1e-9
# TFDV's quantile sketches (every histogram of the statistics comes from
# one) are approximate: a bucket's rank is right to within epsilon of the
# rows (tfdv.StatsOptions' default), and the approximation depends on how
# the rows were partitioned into bundles before the sketches were merged.
SKETCH_EPSILON = 0.01
_SKETCH_LEAVES = ('sample_count', 'low_value', 'high_value')
METRIC_ATOL = 1e-6


def _run_nodes(output: str, run_id: Optional[str] = None):
  """The graph of an output's store and the nodes of one run (the newest)."""
  graph = metadata_store.Graph.open(project_paths.run_paths(output).metadata)
  runs = [run for run in graph.runs() if run_id in (None, run.name)]
  if not runs:
    raise ValueError(f'no pipeline run {run_id or ""} in {output}')
  return graph, graph.latest_per_node(runs[-1])


def run_outputs(output: str, run_id: Optional[str] = None) -> Dict[str, Any]:
  """A run's artifacts this module compares, by what they are."""
  graph, nodes = _run_nodes(output, run_id)

  def uri(node: str, key: str) -> Optional[str]:
    execution = nodes.get(node)
    artifact = graph.output(execution, key) if execution else None
    return artifact.uri if artifact else None
  return {'examples': uri('CsvExampleGen', 'examples'),
          'statistics': uri('StatisticsGen', 'statistics'),
          'transform_graph': uri('Transform', 'transform_graph'),
          'transformed_examples': uri('Transform', 'transformed_examples'),
          'evaluation': uri('Evaluator', 'evaluation'),
          'model': uri('Trainer', 'model')}


def _canonical_example(serialized: bytes) -> bytes:
  """A tf.Example's features in key order (map order is not canonical)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(serialized)
  parts = []
  for key in sorted(example.features.feature):
    parts.append(key.encode() + b'\0' +
                 example.features.feature[key].SerializeToString())
  return b'\1'.join(parts)


def rows_digest(examples_uri: str) -> Dict[str, Tuple[int, str, int]]:
  """{split: (rows, SHA-256 of the sorted canonical rows, files)}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = {}
  for split_dir in sorted(glob.glob(os.path.join(examples_uri, 'Split-*'))):
    files = sorted(glob.glob(os.path.join(split_dir, '*')))
    rows = sorted(_canonical_example(record.numpy()) for record in
                  tf.data.TFRecordDataset(files, compression_type='GZIP'))
    digest = hashlib.sha256()
    for row in rows:
      digest.update(hashlib.sha256(row).digest())
    found[os.path.basename(split_dir)[len('Split-'):]] = (
        len(rows), digest.hexdigest(), len(files))
  return found


def _flatten(message, prefix: str = '') -> Dict[str, Any]:
  """Every scalar of a proto by its path (repeated fields by index)."""
  found = {}
  for field, value in message.ListFields():
    path = f'{prefix}.{field.name}' if prefix else field.name
    if field.label == field.LABEL_REPEATED:
      items = list(value)
      for i, item in enumerate(items):
        if field.type == field.TYPE_MESSAGE:
          found.update(_flatten(item, f'{path}[{i}]'))
        else:
          found[f'{path}[{i}]'] = item
    elif field.type == field.TYPE_MESSAGE:
      found.update(_flatten(value, path))
    else:
      found[path] = value
  return found


def _features_by_name(dataset) -> Dict[str, Any]:
  return {statistics.feature_name(f): f for f in dataset.features}


def _is_sketched(path: str) -> bool:
  """A number of a histogram, i.e. read off a quantile sketch."""
  head, _, leaf = path.rpartition('.')
  return 'histogram' in head and '.buckets[' in head and leaf in _SKETCH_LEAVES


def _histogram_span(values: Dict[str, Any], path: str) -> float:
  """Largest high_value minus smallest low_value of path's histogram."""
  prefix = path[:path.index('.buckets[')] + '.buckets['
  bounds = [v for p, v in values.items() if p.startswith(prefix) and
            p.rpartition('.')[2] in ('low_value', 'high_value')]
  return max(bounds) - min(bounds) if bounds else 0.0


def statistics_differences(uri_a: str, uri_b: str,
                           rtol: float = STATS_RTOL,
                           sketch_epsilon: float = SKETCH_EPSILON
                           ) -> Dict[str, Any]:
  """Every number of two statistics: bit-equal, within tolerance, beyond.

  Exact counts and sums must agree to rtol; histogram numbers (from TFDV's
  quantile sketches) to the sketch's own error: a bucket's count within
  sketch_epsilon of the split's rows, a boundary within sketch_epsilon of
  the histogram's span. Those are counted apart ('sketch').
  """
  a, b = statistics.load(uri_a), statistics.load(uri_b)
  compared = bit_equal = 0
  sketch = {'numbers': 0, 'bit_equal': 0, 'largest_count_gap_rows': 0.0,
            'largest_bound_gap_of_span': 0.0, 'epsilon': sketch_epsilon}
  beyond: List[str] = []
  if sorted(a) != sorted(b):
    beyond.append(f'splits {sorted(a)} vs {sorted(b)}')
  for split in sorted(set(a) & set(b)):
    rows = float(a[split].num_examples)
    fa, fb = _features_by_name(a[split]), _features_by_name(b[split])
    if sorted(fa) != sorted(fb):
      beyond.append(f'{split}: features {sorted(set(fa) ^ set(fb))}')
    for name in sorted(set(fa) & set(fb)):
      va, vb = _flatten(fa[name]), _flatten(fb[name])
      for path in sorted(set(va) | set(vb)):
        x, y = va.get(path), vb.get(path)
        where = f'{split}/{name}/{path}: {x!r} vs {y!r}'
        if _is_sketched(path) and x is not None and y is not None:
          sketch['numbers'] += 1
          gap = abs(x - y)
          if path.endswith('sample_count'):
            sketch['largest_count_gap_rows'] = max(
                sketch['largest_count_gap_rows'], gap)
            allowed = sketch_epsilon * rows
          else:
            span = max(_histogram_span(va, path), _histogram_span(vb, path))
            if span:
              sketch['largest_bound_gap_of_span'] = max(
                  sketch['largest_bound_gap_of_span'], gap / span)
            allowed = sketch_epsilon * span
          if gap == 0:
            sketch['bit_equal'] += 1
          elif gap > allowed:
            beyond.append(where)
          continue
        compared += 1
        if x == y:
          bit_equal += 1
        elif not (isinstance(x, float) and isinstance(y, float) and
                  math.isclose(x, y, rel_tol=rtol, abs_tol=rtol)):
          beyond.append(where)
    compared += 1
    if a[split].num_examples == b[split].num_examples:
      bit_equal += 1
    else:
      beyond.append(f'{split}/num_examples: {a[split].num_examples} vs '
                    f'{b[split].num_examples}')
  exact_beyond = [item for item in beyond if 'histogram' not in item]
  return {'numbers': compared, 'bit_equal': bit_equal,
          'within_tolerance': compared - bit_equal - len(exact_beyond),
          'beyond_tolerance': beyond[:20], 'rtol': rtol,
          'sketch': {k: round(v, 6) if isinstance(v, float) else v
                     for k, v in sketch.items()}}


def vocabularies(transform_graph_uri: str) -> Dict[str, str]:
  """{vocabulary file: SHA-256} of a Transform graph's assets."""
  folder = os.path.join(transform_graph_uri, 'transform_fn', 'assets')
  return {name: project_paths.file_sha256(os.path.join(folder, name))
          for name in sorted(os.listdir(folder))} if os.path.isdir(
              folder) else {}


def metric_differences(uri_a: str, uri_b: str,
                       atol: float = METRIC_ATOL) -> Dict[str, Any]:
  """Candidate metrics of every slice: compared, largest gap, beyond atol."""
  a = evaluation.load_metrics(uri_a)['candidate']
  b = evaluation.load_metrics(uri_b)['candidate']
  compared, largest, beyond = 0, 0.0, []
  for name in sorted(set(a) | set(b)):
    for metric in sorted(set(a.get(name, {})) | set(b.get(name, {}))):
      x, y = a.get(name, {}).get(metric), b.get(name, {}).get(metric)
      compared += 1
      if x is None or y is None or (math.isnan(x) != math.isnan(y)):
        beyond.append(f'{name}/{metric}: {x} vs {y}')
        continue
      if math.isnan(x):
        continue
      gap = abs(x - y)
      largest = max(largest, gap)
      if gap > atol:
        beyond.append(f'{name}/{metric}: {x:.9f} vs {y:.9f}')
  overall = (a.get('Overall', {}).get('auc'), b.get('Overall', {}).get('auc'))
  return {'metrics': compared, 'largest_gap': largest, 'atol': atol,
          'auc': overall, 'beyond_tolerance': beyond[:20]}


def reevaluate_locally(output: str, work_dir: str,
                       run_id: Optional[str] = None) -> str:
  """TFMA on the DirectRunner over the run's model, eval rows and config.

  Returns:
    The evaluation folder, to compare with the run's Evaluator output.
  """
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  graph, nodes = _run_nodes(output, run_id)
  evaluator = nodes['Evaluator']
  config = json_format.Parse(metadata_store.prop(evaluator, 'eval_config'),
                             tfma.EvalConfig())
  candidate = [spec for spec in config.model_specs if not spec.is_baseline]
  del config.model_specs[:]
  config.model_specs.extend(candidate)
  model = os.path.join(graph.output(nodes['Trainer'], 'model').uri,
                       'Format-Serving')
  examples = graph.output(nodes['CsvExampleGen'], 'examples').uri
  out = os.path.join(work_dir, 'reevaluation')
  tfma.run_model_analysis(
      eval_shared_model=tfma.default_eval_shared_model(
          eval_saved_model_path=model, eval_config=config),
      eval_config=config,
      data_location=os.path.join(examples, 'Split-eval', '*'),
      file_format='tfrecords', output_path=out,
      pipeline_options=beam.options.pipeline_options.PipelineOptions(
          project_paths.beam_args(1)))
  return out


def compare(output_a: str, output_b: str, run_a: Optional[str] = None,
            run_b: Optional[str] = None,
            work_dir: Optional[str] = None) -> Dict[str, Any]:
  """Every check between two runs (by default the newest of each folder).

  Args:
    output_a: the reference run's output (the local DirectRunner's).
    output_b: the output of the run under test (on the worker pools).
    run_a, run_b: the runs' ids (default: the newest of each).
    work_dir: where TFMA re-evaluates output_b's model on the DirectRunner
      (default: a temporary folder, removed afterwards).

  Returns:
    {check: {'equal': bool, ...what was compared}} for examples,
    statistics, vocabularies, transformed_examples and evaluator; 'models'
    records both runs' overall AUC.
  """
  a, b = run_outputs(output_a, run_a), run_outputs(output_b, run_b)
  missing = [key for key in a if not a[key] or not b[key]]
  if missing:
    raise ValueError(f'a run lacks {", ".join(missing)}: did both complete?')
  found = {}
  for key in ('examples', 'transformed_examples'):
    da, db = rows_digest(a[key]), rows_digest(b[key])
    found[key] = {
        'equal': {s: v[:2] for s, v in da.items()} ==
                 {s: v[:2] for s, v in db.items()},
        'rows': {s: v[0] for s, v in da.items()},
        'rows_other': {s: v[0] for s, v in db.items()},
        'files': {s: v[2] for s, v in da.items()},
        'files_other': {s: v[2] for s, v in db.items()}}
  stats = statistics_differences(a['statistics'], b['statistics'])
  found['statistics'] = dict(stats, equal=not stats['beyond_tolerance'])
  va, vb = vocabularies(a['transform_graph']), vocabularies(b['transform_graph'])
  found['vocabularies'] = {'equal': bool(va) and va == vb,
                           'files': sorted(va), 'files_other': sorted(vb)}
  with tempfile.TemporaryDirectory(prefix='reevaluation-',
                                   dir=work_dir) as work:
    local = reevaluate_locally(output_b, work, run_b)
    metrics = metric_differences(local, b['evaluation'])
  found['evaluator'] = dict(metrics, equal=not metrics['beyond_tolerance'])
  models = metric_differences(a['evaluation'], b['evaluation'])
  found['models'] = {'auc': models['auc'],
                     'auc_gap': abs(models['auc'][0] - models['auc'][1]),
                     'largest_metric_gap': models['largest_gap']}
  return found
