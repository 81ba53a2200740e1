"""Turns a CFPB export (real or generated), or any CSV a dataset spec
describes (`prepare_with_spec`), into versioned pipeline input.

Each distinct content becomes a new span (`span-N/complaints.csv`), which is
how CsvExampleGen versions data; identical content reuses the latest span and
its file is never rewritten (ExampleGen's cache fingerprint includes mtimes).

The exports are streamed chunk by chunk (`cfpb_export.iter_export`) into
staging files, so a multi-gigabyte export converts in bounded memory: one
chunk of rows, plus the Complaint IDs already seen (`SeenIds`, 8 bytes per
numeric ID). The staged span is compared with the latest one block by block
and only then moved into place; on any error nothing is.
"""

import dataclasses
import os
import re
from typing import Optional, Sequence, Set, Union

import numpy as np
import pandas as pd

from data import cfpb_export

SPAN_DIR = re.compile(r'^span-(\d+)$')
INPUT_FILE = 'complaints.csv'
SPEC_INPUT_FILE = 'rows.csv'   # a span of any other data set
# IDs written as a plain decimal integer (no sign, no leading zero, at most
# 18 digits so it fits an int64) are kept as numbers: the string is then
# exactly str(int(id)), so two such strings are equal iff their numbers are.
_CANONICAL_INT = r'(?:0|[1-9][0-9]{0,17})'


@dataclasses.dataclass(frozen=True)
class PreparedInput:
  span: int
  csv_path: str
  labelled_rows: int
  unlabelled_rows: int
  new_span: bool


class SeenIds:
  """The Complaint IDs met so far, to keep each complaint's first row only.

  Exact, without holding rows: numeric IDs (every ID of the CFPB export)
  live in one sorted int64 array, 8 bytes each (80 MB for 10 million
  complaints; a chunk's merge briefly needs a second copy), any other ID
  string in a Python set (about 100 bytes each).
  """

  def __init__(self):
    self._numbers = np.empty(0, dtype=np.int64)
    self._strings: Set[str] = set()

  def first_seen(self, ids: pd.Series) -> np.ndarray:
    """A mask of the IDs in `ids` met for the first time; records them all.

    Like `drop_duplicates(keep='first')` over every chunk passed so far, in
    order: an ID repeated inside `ids` is new only at its first position.
    """
    ids = ids.astype(str).reset_index(drop=True)
    keep = ~ids.duplicated(keep='first').to_numpy()
    numeric = ids.str.fullmatch(_CANONICAL_INT).to_numpy()
    number_rows = np.flatnonzero(keep & numeric)
    if len(number_rows):
      numbers = ids.iloc[number_rows].astype(np.int64).to_numpy()
      keep[number_rows] = ~self._contains(numbers)
      self._insert(numbers[keep[number_rows]])
    for row in np.flatnonzero(keep & ~numeric):
      if ids.iloc[row] in self._strings:
        keep[row] = False
      else:
        self._strings.add(ids.iloc[row])
    return keep

  def _contains(self, numbers: np.ndarray) -> np.ndarray:
    if not len(self._numbers):
      return np.zeros(len(numbers), dtype=bool)
    at = np.searchsorted(self._numbers, numbers)
    return self._numbers[np.minimum(at, len(self._numbers) - 1)] == numbers

  def _insert(self, numbers: np.ndarray) -> None:
    """Merges distinct new numbers in, keeping the array sorted (linear)."""
    numbers = np.sort(numbers)
    self._numbers = np.insert(self._numbers,
                              np.searchsorted(self._numbers, numbers), numbers)


def latest_span(input_root: str) -> Optional[int]:
  if not os.path.isdir(input_root):
    return None
  spans = [int(m.group(1)) for m in map(SPAN_DIR.match, os.listdir(input_root))
           if m]
  return max(spans) if spans else None


def read_exports(export_csvs: Sequence[str]) -> pd.DataFrame:
  """All rows of one or more export files; a complaint listed twice counts once.

  In memory: for files that fit (`prepare` streams instead).
  """
  frames = [cfpb_export.read_export(path) for path in export_csvs]
  rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
  return rows.drop_duplicates(subset=[cfpb_export.ID_EXPORT_COLUMN],
                              keep='first', ignore_index=True)


def prepare(export_csvs: Union[str, Sequence[str]], input_root: str,
            unlabelled_dir: str) -> PreparedInput:
  """Converts the export file(s) into a span, streaming; same bytes as in memory.

  The labelled rows (first row of each Complaint ID, across all files) go to
  a new span unless the latest span holds exactly the same bytes; the
  unlabelled ones to `<unlabelled_dir>/complaints.csv` (rewritten only if
  changed). Nothing is moved into place before every file has been read.

  Raises:
    cfpb_export.ExportFormatError: A file is not a readable export, or no row
      has a label.
    data.files.OutputError: The output cannot be written.
  """
  if isinstance(export_csvs, str):
    export_csvs = [export_csvs]
  seen = SeenIds()
  with cfpb_export.PipelineCsvWriter(input_root) as labelled, \
      cfpb_export.PipelineCsvWriter(unlabelled_dir) as unlabelled:
    for path in export_csvs:
      for chunk in cfpb_export.iter_export(path):
        chunk = chunk[seen.first_seen(chunk[cfpb_export.ID_EXPORT_COLUMN])]
        rows, rest = cfpb_export.split_labelled(chunk)
        if len(rows):
          labelled.write(cfpb_export.to_pipeline_frame(rows))
        if len(rest):
          unlabelled.write(
              cfpb_export.to_pipeline_frame(rest, include_label=False))
    if not labelled.rows:
      raise cfpb_export.ExportFormatError(
          f'{", ".join(export_csvs)}: no row has a "Consumer disputed?" label '
          '(Yes/No): there is nothing to train on.')
    return _commit_span(labelled, unlabelled, input_root, unlabelled_dir)


def prepare_with_spec(csvs: Sequence[str], spec, input_root: str,
                      unlabelled_dir: str) -> PreparedInput:
  """`prepare` for any CSV its dataset spec describes (data/spec_frame.py).

  The same span rules as `prepare` (identical content reuses the latest
  span, nothing moves into place before every file is read), with the
  files read whole: the label's classes are checked over all of them, not
  chunk by chunk. A row whose spec ID was met before is dropped, as a
  repeated Complaint ID is; rows keyed by their values (no ID) all stay.

  Raises:
    dataset_spec.SpecError: a file lacks a column, or the label has fewer
      than two usable classes.
    spec_frame.DataKindError: a numeric column holds something else.
    data.files.OutputError: the output cannot be written.
  """
  return prepare_frame(read_spec_csvs(csvs, spec), spec, input_root,
                       unlabelled_dir,
                       ', '.join(os.path.basename(p) for p in csvs))


def read_spec_csvs(csvs: Sequence[str], spec) -> pd.DataFrame:
  """The rows of one or more CSVs, every value a string; a row whose spec
  ID was met before is dropped."""
  frames = []
  for path in csvs:
    frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
  df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
  if spec.id_column and spec.id_column in df.columns:
    df = df.drop_duplicates(subset=[spec.id_column], keep='first',
                            ignore_index=True)
  return df


def prepare_frame(df: pd.DataFrame, spec, input_root: str,
                  unlabelled_dir: str, source: str) -> PreparedInput:
  """prepare_with_spec for rows already read (a period's, say)."""
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  labelled_rows, rest = spec_frame.to_pipeline_frame(df, spec, source)
  with cfpb_export.PipelineCsvWriter(input_root) as labelled, \
      cfpb_export.PipelineCsvWriter(unlabelled_dir) as unlabelled:
    labelled.write(labelled_rows)
    if len(rest):
      unlabelled.write(rest)
    return _commit_span(labelled, unlabelled, input_root, unlabelled_dir,
                        SPEC_INPUT_FILE)


def _commit_span(labelled, unlabelled, input_root: str,
                 unlabelled_dir: str, name: str = INPUT_FILE) -> PreparedInput:
  """Puts the staged rows in place as `name`: a new span unless the latest
  holds the same bytes; the unlabelled rows beside."""
  latest = latest_span(input_root)
  if latest is not None and labelled.same_as(
      _span_file(input_root, latest, name)):
    span, new_span = latest, False
  else:
    span, new_span = (latest or 0) + 1, True
    labelled.commit(_span_file(input_root, span, name))
  if unlabelled.rows:
    unlabelled.commit(os.path.join(unlabelled_dir, name))
  return PreparedInput(span, _span_file(input_root, span, name),
                       labelled.rows, unlabelled.rows, new_span)


def add_span(frame: pd.DataFrame, input_root: str,
             name: str = SPEC_INPUT_FILE) -> dict:
  """`frame` (pipeline columns) as a new span after the latest, e.g. the
  feedback's rows as served; {'span', 'path', 'rows'}."""
  span = (latest_span(input_root) or 0) + 1
  path = _span_file(input_root, span, name)
  cfpb_export.write_pipeline_csv(frame, path)
  return {'span': span, 'path': path, 'rows': len(frame)}


def add_export_span(export: pd.DataFrame, input_root: str) -> dict:
  """Labelled rows in the default data set's export layout as a new span,
  converted as `prepare` converts them (the feedback's rows as served)."""
  return add_span(cfpb_export.to_pipeline_frame(export, include_label=True),
                  input_root, INPUT_FILE)


def span_csv(input_root: str, span: int) -> Optional[str]:
  """The CSV of span N, whatever data set wrote it (None if it has none)."""
  for name in (INPUT_FILE, SPEC_INPUT_FILE):
    path = _span_file(input_root, span, name)
    if os.path.isfile(path):
      return path
  return None


def _span_file(input_root: str, span: int, name: str = INPUT_FILE) -> str:
  return os.path.join(input_root, f'span-{span}', name)
