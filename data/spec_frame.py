"""Any CSV to the pipeline's input columns, as its dataset spec describes it.

The generic counterpart of `data/cfpb_export.to_pipeline_frame`: columns
become their spec keys (TensorFlow-safe names), text and categorical values
are stripped with line breaks turned into spaces (CsvExampleGen reads one
record per line), numeric values are checked to parse as numbers, and the
label becomes its class index (binary: 1 for the positive value). Rows
whose label is empty or outside the spec's classes are kept apart, as the
CFPB conversion keeps unlabelled complaints apart.

Without an ID column in the spec, each row gets a `row_key`: a hash of its
values in the spec's columns, so the same row always gets the same key (and
the same split), whatever the protobuf version serializing it, and a
request logged by the server can later be joined with its label.
"""

import hashlib
from typing import Tuple

import pandas as pd

from components import dataset_spec

ROW_KEY = dataset_spec.ROW_KEY
_LINE_BREAK = r'\r\n|\r|\n'
_SEPARATOR = '\x1f'  # ASCII unit separator: never inside a CSV value


class DataKindError(ValueError):
  """A column's values contradict the kind the spec gives it."""


def row_keys(df: pd.DataFrame, spec: dataset_spec.DatasetSpec) -> pd.Series:
  """A stable 60-bit integer per row from its values in the spec's columns
  (label excluded, so a label sent back later finds the served request)."""
  columns = [c for c in spec.columns if c != spec.label.column]
  joined = df[columns].astype(str).agg(_SEPARATOR.join, axis=1)
  return joined.map(lambda text: int(hashlib.sha256(
      text.encode('utf-8')).hexdigest()[:15], 16)).astype('int64')


def _text(values: pd.Series, missing=()) -> pd.Series:
  text = values.fillna('').astype(str).str.replace(
      _LINE_BREAK, ' ', regex=True).str.strip()
  return text.where(~text.isin(missing), '') if missing else text


def _numbers(values: pd.Series, column: str, source: str,
             missing=()) -> pd.Series:
  text = _text(values, missing)
  parsed = pd.to_numeric(text.where(text != ''), errors='coerce')
  bad = text[(text != '') & parsed.isna()]
  if len(bad):
    raise DataKindError(
        f'{source}: column {column!r} is numeric in the spec, but '
        f'{len(bad):,} value(s) are not numbers (first: {bad.iloc[0]!r} in '
        f'row {int(bad.index[0]) + 2}): make it categorical, or clean it')
  # Always floats: a span whose integer column happens to have no missing
  # value would otherwise be written as integers, which CsvExampleGen
  # reads as INT against a schema that says FLOAT.
  return parsed.astype('float64')


def to_pipeline_frame(df: pd.DataFrame, spec: dataset_spec.DatasetSpec,
                      source: str = 'the data'
                      ) -> Tuple[pd.DataFrame, pd.DataFrame]:
  """(labelled, unlabelled) rows in the pipeline's columns.

  Args:
    df: the CSV as read with every value a string (dtype=str,
      keep_default_na=False).
    spec: its dataset spec.
    source: how errors name the data (a file name).

  Returns:
    Both frames have the join key first, then each feature's key; the
    labelled one ends with the label's key (the class index, int64).

  Raises:
    dataset_spec.SpecError: a column is missing, or the label has fewer
      than two usable classes.
    DataKindError: a numeric column holds something else.
  """
  dataset_spec.check_columns(spec, list(df.columns),
                             list(df[spec.label.column].astype(str))
                             if spec.label.column in df.columns else [],
                             source)
  frame = features_frame(df, spec, source)
  labels = df[spec.label.column].astype(str).map(spec.label.index_of)
  labelled = labels.notna()
  frame_labelled = frame[labelled].copy()
  frame_labelled[spec.label.key] = labels[labelled].astype('int64')
  return (frame_labelled.reset_index(drop=True),
          frame[~labelled].reset_index(drop=True))


def features_frame(df: pd.DataFrame, spec: dataset_spec.DatasetSpec,
                   source: str = 'the data') -> pd.DataFrame:
  """The join key and each feature's key, converted, without the label:
  rows to score, whose outcome is not known yet.

  Raises:
    dataset_spec.SpecError: a column the spec reads is missing (the label
      may be).
    DataKindError: a numeric column holds something else.
  """
  missing = [c for c in spec.columns
             if c != spec.label.column and c not in df.columns]
  if missing:
    raise dataset_spec.SpecError(
        f'{source} lacks the column(s) '
        f'{", ".join(repr(c) for c in missing)} that the dataset spec '
        f'{spec.name} reads')
  frame = pd.DataFrame(index=df.index)
  key = spec.join_key
  frame[key] = (_text(df[spec.id_column]) if spec.id_column
                else row_keys(df, spec))
  for feature in spec.features:
    values = df[feature.column]
    frame[feature.key] = (
        _numbers(values, feature.column, source, spec.missing)
        if feature.kind == 'numeric' else _text(values, spec.missing))
  return frame
