"""Turns a CFPB export (real or generated) into versioned pipeline input.

Each distinct content becomes a new span (`span-N/complaints.csv`), which is
how CsvExampleGen versions data; identical content reuses the latest span and
its file is never rewritten (ExampleGen's cache fingerprint includes mtimes).
"""

import dataclasses
import os
import re
from typing import Optional, Sequence, Union

import pandas as pd

from data import cfpb_export

SPAN_DIR = re.compile(r'^span-(\d+)$')
INPUT_FILE = 'complaints.csv'


@dataclasses.dataclass(frozen=True)
class PreparedInput:
  span: int
  csv_path: str
  labelled_rows: int
  unlabelled_rows: int
  new_span: bool


def latest_span(input_root: str) -> Optional[int]:
  if not os.path.isdir(input_root):
    return None
  spans = [int(m.group(1)) for m in map(SPAN_DIR.match, os.listdir(input_root))
           if m]
  return max(spans) if spans else None


def read_exports(export_csvs: Sequence[str]) -> pd.DataFrame:
  """All rows of one or more export files; a complaint listed twice counts once."""
  frames = [cfpb_export.read_export(path) for path in export_csvs]
  rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
  return rows.drop_duplicates(subset=[cfpb_export.ID_EXPORT_COLUMN],
                              keep='first', ignore_index=True)


def prepare(export_csvs: Union[str, Sequence[str]], input_root: str,
            unlabelled_dir: str) -> PreparedInput:
  """Converts the export file(s); raises cfpb_export.ExportFormatError on bad files."""
  if isinstance(export_csvs, str):
    export_csvs = [export_csvs]
  labelled, unlabelled = cfpb_export.split_labelled(read_exports(export_csvs))
  if labelled.empty:
    raise cfpb_export.ExportFormatError(
        f'{", ".join(export_csvs)}: no row has a "Consumer disputed?" label '
        '(Yes/No): there is nothing to train on.')
  frame = cfpb_export.to_pipeline_frame(labelled)
  latest = latest_span(input_root)
  new_span = True
  if latest is not None:
    path = os.path.join(input_root, f'span-{latest}', INPUT_FILE)
    staging = os.path.join(input_root, '.staging.csv')
    cfpb_export.write_pipeline_csv(frame, staging)
    with open(staging, 'rb') as a, open(path, 'rb') as b:
      same = a.read() == b.read()
    os.remove(staging)
    if same:
      span, new_span = latest, False
  if new_span:
    span = (latest or 0) + 1
    os.makedirs(os.path.join(input_root, f'span-{span}'), exist_ok=True)
    cfpb_export.write_pipeline_csv(
        frame, os.path.join(input_root, f'span-{span}', INPUT_FILE))
  if not unlabelled.empty:
    os.makedirs(unlabelled_dir, exist_ok=True)
    cfpb_export.write_pipeline_csv(
        cfpb_export.to_pipeline_frame(unlabelled, include_label=False),
        os.path.join(unlabelled_dir, INPUT_FILE))
  return PreparedInput(span, os.path.join(input_root, f'span-{span}',
                                          INPUT_FILE),
                       len(labelled), len(unlabelled), new_span)
