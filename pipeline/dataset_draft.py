"""`python -m pipeline init-dataset`: a first dataset spec and curated schema
drafted from a CSV, for a person to review.

Each column's kind comes from what the data holds: numbers with many
distinct values are numeric; integer codes with few values (an hour, a day
of the week) or huge integer codes (census tracts) are categorical; strings
of several words that rarely repeat are text; the rest is categorical. A
column unique on every row becomes the ID; an integer column named like a
time with values in the range of epoch seconds (or a column of dates)
becomes the timestamp. The draft says why it chose each kind, and warns
about what a person must decide: a column that separates the label almost
by itself (a leak, such as the taxi data's `tips`, which decides
`big_tipper`; the draft leaves it out, under `ignore`), a column that is
almost always missing, a label with a rare class.

The schema is drafted by TFDV from the converted CSV (the same type
inference CsvExampleGen applies), then curated: closed vocabularies for
categoricals of few values, tolerating 5% unknown values; numeric ranges
from the data; presence required where no value was missing.
"""

import dataclasses
import os
import re
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

MAX_ROWS = 200_000            # rows read to draft; enough to see the kinds
MAX_INTEGER_CATEGORIES = 31   # integer codes with at most this many values
LARGE_CODE = 10**6            # integers this large are codes, not amounts
TEXT_MIN_WORDS = 4            # mean words of a text column
TEXT_MIN_DISTINCT = 0.5       # share of distinct values of a text column
MOSTLY_MISSING = 0.9
LEAK_AUC = 0.95               # one column separating the label this well
CLOSED_VOCABULARY = 100       # categoricals with at most this many values
MIN_DOMAIN_MASS = 0.95
MISSING_MARKERS = ('NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None')
_EPOCH = (1e8, 4e9)           # 1973 to 2096, in seconds
_DATE_FORMATS = ('%Y-%m-%d', '%m/%d/%Y', '%d/%m/%Y', '%Y-%m-%d %H:%M:%S')


class DraftError(ValueError):
  """The CSV or the options cannot give a draft; one line."""


@dataclasses.dataclass
class Column:
  name: str
  kind: str = ''                       # categorical | numeric | text
  role: str = 'feature'                # feature | id | timestamp | ignore
  why: str = ''
  options: Dict[str, object] = dataclasses.field(default_factory=dict)
  warnings: List[str] = dataclasses.field(default_factory=list)


def _words(values: pd.Series) -> float:
  return float(values.str.split().str.len().mean()) if len(values) else 0.0


def _date_format(values: pd.Series) -> Optional[str]:
  sample = values.head(200)
  for fmt in _DATE_FORMATS:
    parsed = pd.to_datetime(sample, format=fmt, errors='coerce')
    if len(sample) and parsed.notna().all():
      return fmt
  return None


def _separation(score: pd.Series, label: pd.Series) -> float:
  """How well a score alone separates the label: its AUC (either direction)
  for two classes; for more, the mean over classes of the one-vs-rest AUC,
  so a measurement that tells one species from the rest but not the others
  apart is no leak."""
  from data import metrics  # pylint: disable=g-import-not-at-top
  aucs = []
  classes = sorted(label.unique())
  for value in classes[1:] if len(classes) == 2 else classes:
    positive = (label == value).astype(int).to_numpy()
    auc = metrics.roc_auc(score.to_numpy(), positive)
    aucs.append(max(auc, 1.0 - auc))
  return float(np.mean(aucs)) if aucs else 0.5


def _leak_score(values: pd.Series, kind: str,
                label: pd.Series) -> Optional[pd.Series]:
  """A score for the leak check: the number itself, or each category's
  label mean (categoricals of few values only: with many, a mean per
  category separates the rows it was fitted on whatever the column)."""
  if kind == 'numeric':
    return pd.to_numeric(values, errors='coerce').fillna(-np.inf)
  if values.nunique() > max(20, len(values) // 100):
    return None
  codes = label.astype('category').cat.codes
  return values.map(codes.groupby(values).mean())


def classify(name: str, raw: pd.Series, label: pd.Series) -> Column:
  """The kind and role of one column, and why."""
  values = raw.str.strip()
  markers = [m for m in MISSING_MARKERS if (values == m).any()]
  present = values[(values != '') & ~values.isin(markers)]
  column = Column(name)
  missing = 1.0 - len(present) / max(len(values), 1)
  if not len(present):
    column.role, column.why = 'ignore', 'no value in any row'
    return column
  numbers = pd.to_numeric(present, errors='coerce')
  distinct = present.nunique()
  if numbers.notna().all():
    integral = bool((numbers == numbers.round()).all())
    if integral and distinct <= MAX_INTEGER_CATEGORIES:
      column.kind, column.why = 'categorical', (
          f'integer codes with {distinct} values')
    elif integral and numbers.abs().max() >= LARGE_CODE and re.search(
        r'time|date|stamp', name, re.I) and numbers.between(*_EPOCH).all():
      column.role, column.kind = 'timestamp', 'numeric'
      column.options['format'] = 'epoch_seconds'
      column.why = 'integers named like a time, in the range of epoch seconds'
    elif integral and numbers.abs().min() >= LARGE_CODE:
      column.kind, column.why = 'categorical', (
          f'integer codes of {len(str(int(numbers.abs().min())))}+ digits '
          f'({distinct:,} values)')
    else:
      column.kind, column.why = 'numeric', (
          f'numbers, {distinct:,} distinct values')
  else:
    date_format = _date_format(present)
    words = _words(present)
    if date_format:
      column.role, column.kind = 'timestamp', 'categorical'
      column.options['format'] = date_format
      column.why = f'dates ({date_format})'
    elif words >= TEXT_MIN_WORDS and distinct >= TEXT_MIN_DISTINCT * len(
        present):
      column.kind, column.why = 'text', (
          f'{words:.0f} words on average, {distinct / len(present):.0%} '
          'distinct')
    else:
      column.kind, column.why = 'categorical', f'{distinct:,} distinct values'
  if (column.role == 'feature' and column.kind != 'text'
      and distinct == len(values) and not missing):
    column.role, column.why = 'id', f'unique on every row ({column.why})'
  if markers:
    column.options['missing'] = markers
  if missing >= MOSTLY_MISSING:
    column.warnings.append(f'missing on {missing:.0%} of the rows: is it '
                           'worth reading?')
  if column.role == 'feature':
    score = _leak_score(values.where(~values.isin(markers), ''),
                        column.kind, label)
    if score is not None:
      separation = _separation(score, label)
      if separation >= LEAK_AUC:
        column.role = 'ignore'
        column.warnings.append(
            f'separates the label almost by itself (AUC {separation:.3f}): '
            'a leak? left out under ignore; move it to features if it is '
            'known when a prediction is made')
  return column


def _label_classes(label: pd.Series, positive: Optional[str]
                   ) -> Tuple[str, List[str], Optional[str], List[str]]:
  """(task, classes, positive, notes) of a label column."""
  counts = label[label != ''].value_counts()
  classes = sorted(counts.index)
  notes = []
  if len(classes) < 2:
    raise DraftError(f'the label has {len(classes)} class(es) '
                     f'({", ".join(classes) or "no value"}): a model needs '
                     'two or more')
  if positive is not None and positive not in classes:
    raise DraftError(f'--positive {positive!r} is not a value of the label '
                     f'(values: {", ".join(classes[:10])})')
  rare = [c for c in classes if counts[c] < max(10, 0.01 * counts.sum())]
  if rare:
    notes.append(f'class(es) {", ".join(rare)} have few rows '
                 f'({", ".join(str(counts[c]) for c in rare)}): their '
                 'metrics will be noisy')
  if len(classes) == 2 or positive is not None:
    if positive is None:
      usual = [c for c in classes if c.lower() in ('1', 'yes', 'true')]
      positive = usual[0] if usual else str(counts.idxmin())
      notes.append(f'positive class {positive!r} ('
                   + ('the usual name' if usual else 'the rarer value')
                   + '; --positive picks another)')
    return 'binary', classes, positive, notes
  return 'multiclass', classes, None, notes


def _yaml_string(value: str) -> str:
  import json  # pylint: disable=g-import-not-at-top
  return json.dumps(value)  # a JSON string is a valid YAML scalar


def render_spec(name: str, data_path: str, schema_file: str, label: str,
                task: str, classes: List[str], positive: Optional[str],
                columns: List[Column]) -> str:
  """The spec as YAML, each choice explained in a comment."""
  q = _yaml_string
  lines = [f'# Drafted by `python -m pipeline init-dataset` from {data_path}.',
           '# Review every line: the kinds come from the data, not from what '
           'the columns mean.',
           f'name: {name}', f'schema: {schema_file}',
           f'data: {q(os.path.abspath(data_path))}',
           'label:', f'  column: {q(label)}', f'  task: {task}',
           f'  classes: [{", ".join(q(c) for c in classes)}]']
  if positive is not None:
    lines.append(f'  positive: {q(positive)}')
  for column in columns:
    if column.role == 'id':
      lines.append(f'id: {q(column.name)}  # {column.why}')
  for column in columns:
    if column.role == 'timestamp':
      lines.append(f'timestamp: {{column: {q(column.name)}, format: '
                   f'{q(column.options["format"])}}}  # {column.why}')
      break
  markers = sorted({m for c in columns for m in c.options.get('missing', [])})
  if markers:
    lines.append(f'missing: [{", ".join(q(m) for m in markers)}]')
  lines.append('features:')
  for column in columns:
    if column.role == 'feature':
      lines.append(f'  - {{column: {q(column.name)}, kind: {column.kind}}}'
                   f'  # {column.why}')
  ignored = [c for c in columns if c.role == 'ignore']
  if ignored:
    lines.append('ignore:')
    lines += [f'  - {q(c.name)}  # {"; ".join(c.warnings) or c.why}'
              for c in ignored]
  categorical = [c.name for c in columns
                 if c.role == 'feature' and c.kind == 'categorical']
  lines.append(f'slices: [{", ".join(q(c) for c in categorical[:2])}]')
  lines += [f'model: {{name: {name}, output: {name}_'
            + ('probability' if task == 'binary' else 'probabilities') + '}',
            'card:',
            '  purpose: TODO what the model predicts, for whom.',
            '  intended_use: TODO the decisions it may inform, and those it '
            'must not.',
            '  limitations: TODO where the data comes from and what it '
            'leaves out.']
  return '\n'.join(lines) + '\n'


def curate_schema(schema, stats, categorical_keys: List[str],
                  numeric_keys: List[str]):
  """TFDV's inferred schema, curated: closed vocabularies for categoricals
  of few values (5% unknown tolerated), numeric ranges from the data."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  numeric = {}
  for dataset in stats.datasets:
    for feature in dataset.features:
      key = feature.path.step[0] if feature.path.step else feature.name
      if feature.HasField('num_stats'):
        numeric[key] = (feature.num_stats.min, feature.num_stats.max)
  for feature in schema.feature:
    if feature.presence.min_fraction < 1.0 or not feature.HasField('shape'):
      # Not required: CsvExampleGen reads an empty cell as a value list of
      # length 0, which a value_count of min 1 would call an anomaly.
      feature.presence.min_fraction = 0.0
      feature.presence.min_count = 0
      feature.ClearField('shape')
      feature.value_count.min = 0
      feature.value_count.max = 1
  for key in categorical_keys:
    feature = tfdv.get_feature(schema, key)
    if feature.HasField('domain') or feature.HasField('string_domain'):
      feature.distribution_constraints.min_domain_mass = MIN_DOMAIN_MASS
  for key in numeric_keys:
    if key in numeric:
      feature = tfdv.get_feature(schema, key)
      low, high = numeric[key]
      if feature.type == schema_pb2.FLOAT:
        feature.float_domain.min, feature.float_domain.max = low, high
      elif feature.type == schema_pb2.INT:
        feature.int_domain.min, feature.int_domain.max = int(low), int(high)
  return schema


def read_csv(path: str) -> pd.DataFrame:
  """The first MAX_ROWS rows of a CSV, every value a string; DraftError if
  it cannot be read."""
  try:
    return pd.read_csv(path, dtype=str, keep_default_na=False,
                       nrows=MAX_ROWS)
  except FileNotFoundError:
    raise DraftError(f'no such data file: {path}') from None
  except (OSError, UnicodeDecodeError, pd.errors.ParserError,
          pd.errors.EmptyDataError) as error:
    raise DraftError(f'cannot read {path} as a CSV: '
                     f'{str(error).splitlines()[0]}') from None


def write_schema(spec, df: pd.DataFrame, schema_file: str,
                 source: str) -> str:
  """The curated schema of `df` (the CSV as strings) read with `spec`.

  The CSV is converted as the run converts it (data/spec_frame.py) and TFDV
  infers the schema from that, so the types are those CsvExampleGen will
  see; then curated (curate_schema). Written atomically: a failure leaves
  an existing schema as it was.
  """
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  frame, _ = spec_frame.to_pipeline_frame(df, spec, source)
  with tempfile.TemporaryDirectory() as work:
    converted = os.path.join(work, 'converted.csv')
    frame.to_csv(converted, index=False)
    stats = tfdv.generate_statistics_from_csv(converted)
    schema = curate_schema(
        tfdv.infer_schema(stats, max_string_domain_size=CLOSED_VOCABULARY),
        stats, [f.key for f in spec.of_kind('categorical')],
        [f.key for f in spec.of_kind('numeric')])
    staged = os.path.join(os.path.dirname(os.path.abspath(schema_file)),
                          f'.{os.path.basename(schema_file)}.staged')
    tfdv.write_schema_text(schema, staged)
    os.replace(staged, schema_file)
  return schema_file


def schema_for_spec(spec, data_path: Optional[str] = None) -> str:
  """Redrafts the curated schema a spec names, from its data (or data_path).

  For a spec written or edited by hand: `curate-schema --dataset SPEC`.
  """
  path = data_path or spec.data_path
  if not path:
    raise DraftError(f'{spec.path} names no data: give --data')
  df = read_csv(path)
  return write_schema(spec, df, spec.schema_path, path)


def draft(data_path: str, label: str, out_dir: str,
          positive: Optional[str] = None, name: Optional[str] = None,
          force: bool = False) -> Dict[str, object]:
  """Writes <out>/<name>.yaml and <out>/<name>.schema.pbtxt; what it chose."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  name = name or dataset_spec.feature_key(
      os.path.splitext(os.path.basename(data_path))[0])
  spec_file = os.path.join(out_dir, f'{name}.yaml')
  schema_file = os.path.join(out_dir, f'{name}.schema.pbtxt')
  for path in (spec_file, schema_file):
    if os.path.exists(path) and not force:
      raise DraftError(f'{path} exists: give another --out or --name, or '
                       '--force to replace it')
  df = read_csv(data_path)
  if label not in df.columns:
    raise DraftError(f'--label {label!r} is not a column of {data_path} '
                     f'(columns: {", ".join(df.columns[:15])})')
  task, classes, positive, notes = _label_classes(df[label].str.strip(),
                                                  positive)
  labelled = df[df[label].str.strip() != '']
  columns = [classify(c, labelled[c], labelled[label].str.strip())
             for c in df.columns if c != label]
  if not any(c.role == 'feature' for c in columns):
    raise DraftError(f'no column of {data_path} can be a feature')
  for column in [c for c in columns if c.role == 'timestamp'][1:]:
    column.role, column.why = 'feature', f'a second time column ({column.why})'
    if column.kind == 'numeric':
      column.why += ', read as a number'
  os.makedirs(out_dir, exist_ok=True)
  text = render_spec(name, data_path, os.path.basename(schema_file), label,
                     task, classes, positive, columns)
  with tempfile.TemporaryDirectory() as work:
    staged_spec = os.path.join(work, os.path.basename(spec_file))
    with open(staged_spec, 'w', encoding='utf-8') as f:
      f.write(text)
    # The draft must load: the same checks as any spec (but the schema's
    # existence, which is written next).
    spec = dataset_spec.load(staged_spec)
    write_schema(spec, df, schema_file, data_path)
    os.replace(staged_spec, spec_file)
  return {'spec': spec_file, 'schema': schema_file, 'task': task,
          'classes': classes, 'positive': positive, 'label_notes': notes,
          'rows': len(df), 'labelled_rows': len(labelled),
          'columns': [dataclasses.asdict(c) for c in columns]}


def render(result: Dict[str, object]) -> str:
  """What init-dataset prints: each column's choice and the warnings."""
  lines = [f"label: {result['task']}, classes "
           f"{', '.join(result['classes'])}"
           + (f" (positive {result['positive']!r})"
              if result['positive'] is not None else '')]
  lines += [f'  note: {n}' for n in result['label_notes']]
  width = max(len(c['name']) for c in result['columns'])
  for column in result['columns']:
    what = column['kind'] if column['role'] == 'feature' else column['role']
    lines.append(f"{column['name']:<{width}}  {what:<11}  {column['why']}")
    lines += [f"{'':<{width}}  WARNING: {w}" for w in column['warnings']]
  lines += [f"wrote {result['spec']}", f"wrote {result['schema']}",
            'review both, then: python -m pipeline run --dataset '
            f"{result['spec']}"]
  return '\n'.join(lines)
