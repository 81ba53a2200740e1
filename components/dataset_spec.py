"""The dataset spec: one declarative description of a CSV, read once.

A spec file (`datasets/<name>.yaml`, validated against
`datasets/spec.schema.json`) names the CSV's columns by kind (categorical,
numeric, text), the label and its classes, an optional ID and timestamp, the
slices, the served model's names and the model card's prose. `load` turns it
into one typed, immutable `DatasetSpec` that every module asks, instead of
constants written for one data set; `to_config` / `from_config` carry it as
plain JSON into TFX module code (a component's `custom_config`, which TFX
fingerprints, so a changed spec re-runs what depends on it).

A spec that cannot work is one line (`SpecError`) before anything runs:
unknown keys and wrong types from the JSON Schema, then what the schema
cannot say (a column named twice, a slice that is not a categorical
feature, a positive class outside the classes). `check_columns` checks a
spec against a CSV's header and label values.
"""

import dataclasses
import importlib.util
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS_DIR = os.path.join(REPO_ROOT, 'datasets')
SCHEMA_FILE = os.path.join(DATASETS_DIR, 'spec.schema.json')
SHIPPED = ('cfpb', 'taxi', 'penguins')
DEFAULT = 'cfpb'

KINDS = ('categorical', 'numeric', 'text')
BINARY, MULTICLASS = 'binary', 'multiclass'
DEFAULT_NUMERIC_BUCKETS = 10
# The join key of a spec without an ID column: a hash of the row's values
# that the converter writes as a column (data/spec_frame.py).
ROW_KEY = 'row_key'


class SpecError(ValueError):
  """A spec that cannot work; the message is one line that says why."""


def feature_key(column: str) -> str:
  """A column name as a TensorFlow-safe feature key: lower snake_case.

  Signature input names must match [A-Za-z0-9_.\\-/]* and start with a
  letter: "Consumer disputed?" becomes consumer_disputed, "Sub-product"
  sub_product, "2nd try" c_2nd_try.
  """
  key = re.sub(r'[^0-9a-z]+', '_', column.strip().lower()).strip('_')
  if not key:
    raise SpecError(f'column {column!r} has no letters or digits to name a '
                    'feature after: give it a key')
  return key if key[0].isalpha() else 'c_' + key


@dataclasses.dataclass(frozen=True)
class Feature:
  column: str          # as in the CSV's header
  key: str             # as in the pipeline (tf.Example, signatures)
  kind: str            # categorical | numeric | text
  prefix: int = 0      # categorical: keep the first N digits (ZIP codes)
  buckets: int = DEFAULT_NUMERIC_BUCKETS  # numeric: quantile buckets


@dataclasses.dataclass(frozen=True)
class Label:
  column: str
  key: str
  task: str                   # binary | multiclass
  classes: Tuple[str, ...]    # class order: the model's output order
  positive: Optional[str] = None  # binary only

  def index_of(self, value: str) -> Optional[int]:
    """The class index of a raw label value (binary: 1 for the positive
    value, 0 for another listed class); None for an unusable value."""
    value = value.strip()
    if self.task == BINARY:
      if value == self.positive:
        return 1
      return 0 if value in self.classes else None
    return self.classes.index(value) if value in self.classes else None


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  name: str
  path: str                   # the spec file
  schema_path: str            # the curated schema, absolute
  label: Label
  features: Tuple[Feature, ...]
  model_name: str
  output_key: str
  card: Dict[str, str]
  description: str = ''
  data_path: Optional[str] = None   # the default data, absolute
  id_column: Optional[str] = None
  timestamp_column: Optional[str] = None
  timestamp_format: Optional[str] = None
  slices: Tuple[str, ...] = ()      # feature keys
  ignore: Tuple[str, ...] = ()      # columns
  missing: Tuple[str, ...] = ()     # values that mean no value, besides ''

  @property
  def id_key(self) -> Optional[str]:
    return feature_key(self.id_column) if self.id_column else None

  @property
  def join_key(self) -> str:
    """The feature that identifies a row: the ID's key, else ROW_KEY (what
    the split hashes and what logged requests and labels meet on)."""
    return self.id_key or ROW_KEY

  @property
  def multiclass(self) -> bool:
    return self.label.task == MULTICLASS

  def of_kind(self, kind: str) -> List[Feature]:
    return [f for f in self.features if f.kind == kind]

  @property
  def columns(self) -> List[str]:
    """The CSV columns the pipeline reads: features, label, ID, timestamp."""
    named = [f.column for f in self.features] + [self.label.column]
    named += [c for c in (self.id_column, self.timestamp_column) if c]
    return list(dict.fromkeys(named))

  def to_config(self) -> Dict[str, Any]:
    """Plain JSON of every field (from_config reads it back)."""
    return json.loads(json.dumps(dataclasses.asdict(self)))

  def module_config(self) -> Dict[str, Any]:
    """to_config for TFX module code (a component's custom_config): the
    files' locations reduced to their names, which module code never
    reads, so a compiled pipeline (Kubeflow) carries no path of this
    machine and the cache does not depend on where the checkout is."""
    config = self.to_config()
    config.update(path=os.path.basename(self.path),
                  schema_path=os.path.basename(self.schema_path),
                  data_path=None)
    return config


CUSTOM_CONFIG_KEY = 'dataset'  # where module code finds the spec


def from_custom_config(custom_config: Optional[Dict[str, Any]]
                       ) -> Optional[DatasetSpec]:
  """The spec a component's custom_config carries (module_config), or None
  (the CFPB module code, which is given none)."""
  values = (custom_config or {}).get(CUSTOM_CONFIG_KEY)
  return from_config(values) if values else None


def from_config(config: Dict[str, Any]) -> DatasetSpec:
  """The DatasetSpec that to_config wrote."""
  values = dict(config)
  label = dict(values.pop('label'))
  label['classes'] = tuple(label['classes'])
  return DatasetSpec(
      label=Label(**label),
      features=tuple(Feature(**f) for f in values.pop('features')),
      slices=tuple(values.pop('slices')), ignore=tuple(values.pop('ignore')),
      missing=tuple(values.pop('missing')), **values)


def spec_path(name_or_path: str) -> str:
  """A shipped spec's file for its name, else the path as given."""
  if name_or_path in SHIPPED:
    return os.path.join(DATASETS_DIR, f'{name_or_path}.yaml')
  return name_or_path


def is_default(spec: DatasetSpec) -> bool:
  """The CFPB spec, whose pipeline keeps its own module code
  (components/transform.py, components/model.py) and generated data."""
  return spec.path == os.path.abspath(spec_path(DEFAULT))


def _read(path: str) -> Dict[str, Any]:
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    with open(path, encoding='utf-8') as f:
      values = yaml.safe_load(f)
  except FileNotFoundError:
    raise SpecError(f'no dataset spec at {path} (shipped: '
                    f'{", ".join(SHIPPED)})') from None
  except OSError as error:
    raise SpecError(f'cannot read the dataset spec {path}: '
                    f'{error.strerror or error}') from None
  except yaml.YAMLError as error:
    mark = getattr(error, 'problem_mark', None)
    where = f' (line {mark.line + 1})' if mark else ''
    raise SpecError(f'{path} is not valid YAML{where}: '
                    f'{getattr(error, "problem", None) or error}') from None
  if not isinstance(values, dict):
    raise SpecError(f'{path} must hold a mapping of settings (name, label, '
                    'features, ...)')
  return values


def _validate(values: Dict[str, Any], path: str) -> None:
  """The JSON Schema's verdict, as one line naming the offending key."""
  import jsonschema  # pylint: disable=g-import-not-at-top
  with open(SCHEMA_FILE, encoding='utf-8') as f:
    schema = json.load(f)
  validator = jsonschema.Draft202012Validator(schema)
  errors = sorted(validator.iter_errors(values),
                  key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
  if not errors:
    return
  error = jsonschema.exceptions.best_match(errors)
  where = '.'.join(str(p) for p in error.absolute_path) or 'the top level'
  message = error.message
  if error.validator == 'additionalProperties':
    message = message.replace('Additional properties are not allowed',
                              'unknown key')
  raise SpecError(f'{path}: {where}: {message}'.splitlines()[0])


def _data_path(data: Any, folder: str, path: str) -> str:
  if isinstance(data, str):
    return os.path.normpath(os.path.join(folder, data))
  spec = importlib.util.find_spec(data['package'])
  if spec is None or not spec.submodule_search_locations:
    raise SpecError(f'{path}: data: the package {data["package"]!r} is not '
                    f'installed (pip install {data["package"]})')
  return os.path.join(list(spec.submodule_search_locations)[0], data['path'])


def load(name_or_path: str = DEFAULT) -> DatasetSpec:
  """The spec of a shipped name (cfpb, taxi, penguins) or a spec file."""
  path = os.path.abspath(spec_path(name_or_path))
  values = _read(path)
  _validate(values, path)
  folder = os.path.dirname(path)
  features = []
  for item in values['features']:
    key = item.get('key') or feature_key(item['column'])
    feature = Feature(item['column'], key, item['kind'],
                      prefix=item.get('prefix', 0),
                      buckets=item.get('buckets', DEFAULT_NUMERIC_BUCKETS))
    if feature.prefix and feature.kind != 'categorical':
      raise SpecError(f'{path}: features: {feature.column}: prefix applies '
                      'to categorical columns only')
    features.append(feature)
  label_values = values['label']
  label_key = feature_key(label_values['column'])
  extra = [values.get('id'), (values.get('timestamp') or {}).get('column')]
  owners: Dict[str, str] = {}
  for column, key in ([(f.column, f.key) for f in features]
                      + [(label_values['column'], label_key)]
                      + [(c, feature_key(c)) for c in extra if c]):
    if owners.setdefault(key, column) != column:
      raise SpecError(f'{path}: columns {owners[key]!r} and {column!r} both '
                      f'become the key {key!r}: give one of them a key')
  columns = [f.column for f in features]
  for column in set(columns):
    if columns.count(column) > 1:
      raise SpecError(f'{path}: features: {column!r} is listed twice')
  if label_values['column'] in columns:
    raise SpecError(f'{path}: the label {label_values["column"]!r} is also a '
                    'feature')
  classes = tuple(label_values.get('classes') or ())
  positive = label_values.get('positive')
  if label_values['task'] == BINARY:
    if not classes:
      classes = ('(other)', positive)
    elif positive not in classes:
      raise SpecError(f'{path}: label: positive {positive!r} is not one of '
                      f'the classes {list(classes)}')
  label = Label(label_values['column'], label_key, label_values['task'],
                classes, positive)
  by_column = {f.column: f for f in features}
  slices = []
  for column in values.get('slices', []):
    if column not in by_column or by_column[column].kind != 'categorical':
      raise SpecError(f'{path}: slices: {column!r} is not a categorical '
                      'feature of the spec')
    slices.append(by_column[column].key)
  ignored = tuple(values.get('ignore', []))
  for column in ignored:
    if column in columns or column == label.column:
      raise SpecError(f'{path}: ignore: {column!r} is also read by the spec')
  timestamp = values.get('timestamp') or {}
  return DatasetSpec(
      name=values['name'], path=path,
      schema_path=os.path.normpath(os.path.join(folder, values['schema'])),
      label=label, features=tuple(features),
      model_name=values['model']['name'],
      output_key=values['model']['output'], card=dict(values['card']),
      description=values.get('description', ''),
      data_path=(_data_path(values['data'], folder, path)
                 if values.get('data') else None),
      id_column=values.get('id'), timestamp_column=timestamp.get('column'),
      timestamp_format=timestamp.get('format'), slices=tuple(slices),
      ignore=ignored, missing=tuple(values.get('missing', [])))


def check_columns(spec: DatasetSpec, header: Sequence[str],
                  label_values: Sequence[str], source: str) -> None:
  """SpecError when a CSV cannot be read with the spec: a column it lacks,
  a label value outside the classes, or a label with one class only."""
  missing = [c for c in spec.columns if c not in header]
  if missing:
    raise SpecError(
        f'{source} lacks the column(s) {", ".join(repr(c) for c in missing)} '
        f'that the dataset spec {os.path.basename(spec.path)} names (the CSV '
        f'has: {", ".join(list(header)[:12])}'
        f'{", ..." if len(header) > 12 else ""})')
  found = {str(v).strip() for v in label_values if str(v).strip()}
  if spec.label.task == MULTICLASS:
    unknown = sorted(found - set(spec.label.classes))
    if unknown:
      raise SpecError(
          f'{source}: the label {spec.label.column!r} has value(s) '
          f'{", ".join(repr(v) for v in unknown[:5])} outside the spec\'s '
          f'classes {list(spec.label.classes)}')
  indices = {spec.label.index_of(v) for v in found} - {None}
  if len(indices) < 2:
    raise SpecError(
        f'{source}: the label {spec.label.column!r} has '
        f'{"no usable value" if not indices else "one class only"} '
        f'(values seen: {", ".join(sorted(found)[:5]) or "none"}): a model '
        'needs rows of at least two classes')
