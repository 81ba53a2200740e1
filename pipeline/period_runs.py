"""`run --span-by quarter|month`: one pipeline run per new period.

pipeline/time_spans.py cuts the CSV into period groups; this runs the
pipeline once for each group this output's input does not hold yet, oldest
first, each group written as the next span just before its run (ExampleGen
ingests the latest span), so after the last run the window (`--window N`)
is the last N periods. Groups older than the window among the new ones are
not ingested (they could never train a model in it) and the summary says
so; a period already ingested whose rows have changed since is reported,
not ingested again (a span's place in the window is its ingestion order,
which must stay time order). A run that fails stops the sequence: the
periods after it are left for the next invocation.
"""

import hashlib
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from components import dataset_spec
from data import cfpb_export
from pipeline import input_data
from pipeline import local_runner
from pipeline import paths as project_paths
from pipeline import time_spans
from pipeline.config import PipelineConfig


def rows_sha256(group: time_spans.PeriodGroup) -> str:
  return hashlib.sha256(group.rows.to_csv(index=False).encode()).hexdigest()


def choose(groups: Sequence[time_spans.PeriodGroup],
           record: Sequence[Dict[str, Any]], window: int):
  """Which period groups to ingest, oldest first.

  Returns:
    (older: new groups that cannot be in the window, not ingested;
     todo: the last `window` new groups, to ingest one run each;
     changed: labels of groups the record holds whose rows differ now).
  New means after the last period the record holds (all of them without
  a record).
  """
  changed: List[str] = []
  new = list(groups)
  if record:
    done = {entry['label']: entry['rows_sha256'] for entry in record}
    last = record[-1]['periods'][-1]
    changed = [g.label for g in groups
               if g.label in done and done[g.label] != rows_sha256(g)]
    new = [g for g in groups if g.periods[0] > last and g.label not in done]
  older = new[:-window] if len(new) > window else []
  return older, new[len(older):], changed


def _write_span(group: time_spans.PeriodGroup, spec,
                paths: project_paths.RunPaths, files: Sequence[str]
                ) -> input_data.PreparedInput:
  """The group's rows as the next span: the CFPB export's conversion for
  the CFPB spec (through a staging export file in --output), the spec's
  for any other."""
  if not dataset_spec.is_default(spec):
    return input_data.prepare_frame(group.rows, spec, paths.input_root,
                                    paths.unlabelled_dir,
                                    f'{", ".join(files)} ({group.label})')
  import tempfile  # pylint: disable=g-import-not-at-top
  handle, staging = tempfile.mkstemp(prefix='.period-', suffix='.csv',
                                     dir=paths.output)
  os.close(handle)
  try:
    group.rows.to_csv(staging, index=False)
    return input_data.prepare([staging], paths.input_root,
                              paths.unlabelled_dir)
  finally:
    os.unlink(staging)


def run(config: PipelineConfig, paths: project_paths.RunPaths,
        given_data: Optional[Sequence[str]], span_by: str,
        until: Optional[str] = None, progress: Callable[[str], None] = print,
        **run_options) -> local_runner.RunResult:
  """The runs of the new periods; the last run's result, its summary with
  a `periods` entry (what was ingested, skipped, merged)."""
  try:
    spec = dataset_spec.load(config.dataset)
    default = dataset_spec.is_default(spec)
    files = local_runner.data_files(config, given_data,
                                    None if default else spec)
    frame = input_data.read_spec_csvs(files, spec)
    dataset_spec.check_columns(
        spec, list(frame.columns),
        list(frame[spec.label.column]) if spec.label.column in frame else [],
        ', '.join(files))
    planned = time_spans.plan(frame, spec, span_by, config.min_span_rows,
                              ', '.join(files), until)
  except (time_spans.PeriodError, dataset_spec.SpecError,
          local_runner.RunInputError, OSError, ValueError) as error:
    return local_runner.RunResult(local_runner.EXIT_BAD_INPUT, {},
                                  str(error).splitlines()[0])
  for line in planned['merged']:
    progress(f'periods: {line}')
  if planned['no_timestamp']:
    progress(f'periods: {planned["no_timestamp"]:,} rows without a '
             'timestamp left out')
  record = time_spans.read_record(paths.input_root)
  older, todo, changed = choose(planned['groups'], record, config.window)
  if changed:
    progress(f'periods: {", ".join(changed)} changed since they were '
             'ingested; not ingested again (a new period joins the window '
             'after the ones there)')
  report: Dict[str, Any] = {
      'span_by': span_by, 'until': until, 'min_span_rows':
      config.min_span_rows, 'merged': planned['merged'],
      'periods': [g.label for g in planned['groups']],
      'not_ingested_older_than_window': [g.label for g in older],
      'no_timestamp_rows': planned['no_timestamp'],
      'after_until_rows': planned['after_until'], 'ingested': []}
  if older:
    progress(f'periods: {", ".join(g.label for g in older)} are older than '
             f'the window of {config.window}: not ingested')
  if not todo:
    last = record[-1]['label'] if record else None
    progress(f'periods: nothing new (the last period ingested: {last})')
    return local_runner.RunResult(local_runner.EXIT_OK,
                                  {'periods': report}, None)
  result = None
  for index, group in enumerate(todo, start=1):
    progress(f'period {group.label} ({index} of {len(todo)}): '
             f'{len(group.rows):,} rows')
    try:
      prepared = _write_span(group, spec, paths, files)
    except (dataset_spec.SpecError, cfpb_export.ExportFormatError,
            ValueError, OSError) as error:
      return local_runner.RunResult(local_runner.EXIT_BAD_INPUT,
                                    {'periods': report},
                                    f'period {group.label}: {error}')
    result = local_runner.run(config, paths, progress=progress,
                              from_input=True, **run_options)
    entry = {'label': group.label, 'periods': group.periods,
             'span': prepared.span, 'rows': prepared.labelled_rows,
             'rows_sha256': rows_sha256(group),
             'run_id': result.summary.get('run_id'),
             'exit_code': result.exit_code}
    report['ingested'].append(entry)
    if result.exit_code:
      break
    record.append(entry)
    time_spans.write_record(paths.input_root, record)
  result.summary['periods'] = report
  return result
