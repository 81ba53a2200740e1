"""One local run: prepare the input span, run the TFX pipeline, read it back.

The CLI (`pipeline.cli`) turns arguments into a config and paths and calls
`run`; notebooks and benchmarks may call it the same way. Paths come from
`pipeline.paths`, the wiring from `pipeline.pipeline`, the record of what
happened from ML Metadata (`pipeline.metadata`), its rendering from
`pipeline.reports`.
"""

import contextlib
import csv
import dataclasses
import logging
import os
import time
from typing import Any, Dict, List, Optional, Sequence

from components import dataset_spec
from pipeline import data_versions
from pipeline import input_data
from pipeline import paths as project_paths
from pipeline import progress as quiet
from pipeline.config import PipelineConfig
from pipeline.metadata import store as metadata_store
from pipeline.metadata import summary as run_summary
from pipeline.reports import paper_trail

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_DATA_GATE = 3
EXIT_COMPONENT_FAILED = 1


class RunInputError(RuntimeError):
  """Input the run cannot use (data files, --output): exit 2, nothing run."""


@dataclasses.dataclass
class RunResult:
  exit_code: int
  summary: Dict[str, Any]
  error: Optional[str] = None   # one line, for stderr


def with_fingerprints(config: PipelineConfig) -> PipelineConfig:
  """The config keyed to the code now (what invalidates TFX's cache)."""
  return dataclasses.replace(
      config, code_fingerprint=project_paths.code_fingerprint(),
      transform_fingerprint=project_paths.code_fingerprint(
          project_paths.TRANSFORM_CODE))


def check_writable(folder: str) -> None:
  """Creates folder if needed and proves a file can be written in it."""
  try:
    os.makedirs(folder, exist_ok=True)
    probe = os.path.join(folder, '.write-test')
    with open(probe, 'w', encoding='utf-8'):
      pass
    os.remove(probe)
  except OSError as error:
    raise RunInputError(f'cannot write to --output {folder}: '
                        f'{error.strerror or error}') from None


def data_files(config: PipelineConfig,
               given: Optional[Sequence[str]], spec=None) -> List[str]:
  """The data files of this run: those given, else the spec's data (a spec
  other than CFPB's), else the generated CFPB export."""
  if given:
    missing = [path for path in given if not os.path.isfile(path)]
    if missing:
      raise RunInputError(f'no such data file: {missing[0]}')
    return list(given)
  if spec is not None:
    if not spec.data_path:
      raise RunInputError(f'the dataset spec {spec.path} names no data: '
                          'give --data CSV')
    if not os.path.isfile(spec.data_path):
      raise RunInputError(f"the dataset spec's data {spec.data_path} is "
                          'missing: give --data CSV')
    return [spec.data_path]
  from data import generate  # pylint: disable=g-import-not-at-top
  try:
    return [generate.ensure_generated(config.rows, config.seed,
                                      project_paths.GENERATED_DIR).export_csv]
  except OSError as error:  # data.files.OutputError names the path
    raise RunInputError(f'cannot write the generated data: {error}') from None


def prepare(paths: project_paths.RunPaths, files: Sequence[str],
            spec=None) -> input_data.PreparedInput:
  """The run's span from its files: CFPB exports, or (spec) any CSV."""
  from data import cfpb_export, files as data_files_module, spec_frame  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  try:
    if spec is not None:
      return input_data.prepare_with_spec(files, spec, paths.input_root,
                                          paths.unlabelled_dir)
    return input_data.prepare(files, paths.input_root, paths.unlabelled_dir)
  except data_files_module.OutputError as error:
    raise RunInputError(f'cannot write to --output {paths.output}: '
                        f'{error}') from None
  except (spec_frame.DataKindError, dataset_spec.SpecError) as error:
    raise RunInputError(str(error)) from None
  except (cfpb_export.ExportFormatError, OSError, UnicodeDecodeError,
          pd.errors.ParserError, pd.errors.EmptyDataError) as error:
    raise RunInputError(f'cannot use {", ".join(files)}: '
                        f'{str(error).splitlines()[0]}') from None


def prepare_versioned(paths: project_paths.RunPaths,
                      request: data_versions.DataRequest,
                      given: Sequence[str], spec=None):
  """The span of files read from a DVC repository at a revision, and its
  record of where they came from; (their labels, the span).

  The files are read into a folder of --output removed afterwards: only
  the span (and its sources.json) stays.
  """
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  folder = tempfile.mkdtemp(prefix='.data-rev-', dir=paths.output)
  try:
    sources = data_versions.fetch(request, given, folder)
    prepared = prepare(paths, [s.local for s in sources], spec)
    data_versions.record(os.path.dirname(prepared.csv_path), sources)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  return [s.label for s in sources], prepared


def existing_input(paths: project_paths.RunPaths) -> input_data.PreparedInput:
  """The latest span already in the input folder, as if just prepared."""
  span = input_data.latest_span(paths.input_root)
  if span is None:
    raise RunInputError(f'--from-input: no span-N folder in '
                        f'{paths.input_root} (run with --data first, or '
                        'write a span with `pipeline feedback`)')
  csv_path = input_data.span_csv(paths.input_root, span)
  if csv_path is None:
    raise RunInputError('--from-input: ' + os.path.join(
        paths.input_root, f'span-{span}', input_data.INPUT_FILE)
                        + ' is missing')
  with open(csv_path, newline='', encoding='utf-8') as f:
    rows = max(sum(1 for _ in csv.reader(f)) - 1, 0)  # records, not lines
  return input_data.PreparedInput(span, csv_path, rows, 0, False)


@contextlib.contextmanager
def password_redacted(password: str):
  """No log record carries the database password, in the log or on screen.

  TFX logs its ML Metadata connection config, password included, at INFO.
  Replaced as each record is made, so every handler sees it redacted.
  """
  if not password:
    yield
    return
  from google.protobuf import text_encoding  # pylint: disable=g-import-not-at-top
  secrets = {password, text_encoding.CEscape(password, as_utf8=True)}
  make_record = logging.getLogRecordFactory()

  def redacting(*args, **kwargs):
    record = make_record(*args, **kwargs)
    try:
      text = record.getMessage()
    except Exception:  # pylint: disable=broad-except
      return record  # a broken record stays as broken as it was
    if any(secret in text for secret in secrets):
      for secret in secrets:
        text = text.replace(secret, '***')
      record.msg, record.args = text, None
    return record

  logging.setLogRecordFactory(redacting)
  try:
    yield
  finally:
    logging.setLogRecordFactory(make_record)


def failed_component(summary: Dict[str, Any]) -> str:
  failed = [c['component'] for c in summary.get('components', [])
            if c['state'] == 'FAILED']
  return failed[-1] if failed else 'the pipeline'


def run(config: PipelineConfig, paths: project_paths.RunPaths,
        given_data: Optional[Sequence[str]] = None,
        progress=print, verbose: bool = False,
        beam_pipeline_args: Optional[Sequence[str]] = None,
        from_input: bool = False,
        data_version: Optional[data_versions.DataRequest] = None
        ) -> RunResult:
  """Runs the pipeline once; never raises for bad input or a failed component.

  Args:
    config: the run's settings (fingerprints are filled in here).
    paths: where everything goes (`--output`).
    given_data: export CSVs (default: the generated data set).
    progress: called with one line per step a person wants to see.
    verbose: leave the libraries' output on the terminal instead of sending
      it to the run's log file.
    beam_pipeline_args: Beam arguments replacing the DirectRunner's (e.g.
      the portable runner and its SDK worker pools); recorded in ML Metadata
      with every Beam component's execution.
    from_input: add no span: run on the latest span already in the input
      folder (a feedback span, say); given_data must then be empty.
    data_version: read given_data from this git + DVC repository at its
      revision (paths relative to it); the span records where it came from.
  """
  started = time.time()
  config = with_fingerprints(config)
  try:
    spec = dataset_spec.load(config.dataset)
  except dataset_spec.SpecError as error:
    return RunResult(EXIT_BAD_INPUT, {}, str(error))
  config = config.for_spec(spec)
  if not os.path.isfile(spec.schema_path):
    return RunResult(EXIT_BAD_INPUT, {}, 'the curated schema is missing: '
                     f'{spec.schema_path} (reinstall the package, or draft '
                     'it with python -m pipeline curate-schema --dataset '
                     f'{config.dataset})')
  # The CFPB spec keeps its own module code; any other goes by kind.
  by_kind = None if dataset_spec.is_default(spec) else spec
  try:
    check_writable(paths.output)
    if paths.metadata.is_mysql:  # user, password and database, before any work
      metadata_store.open_store(paths.metadata)
    if from_input:
      files, prepared = [], existing_input(paths)
    elif data_version:
      files, prepared = prepare_versioned(paths, data_version, given_data,
                                          by_kind)
    else:
      files = data_files(config, given_data, by_kind)
      prepared = prepare(paths, files, by_kind)
  except (RunInputError, ValueError, metadata_store.NoMetadataError) as error:
    return RunResult(EXIT_BAD_INPUT, {}, str(error))
  log_path = None if verbose else paths.log_path(started)
  if log_path:
    progress(f'log: {log_path}')
  progress(f'data: span {prepared.span} ({prepared.labelled_rows} labelled '
           f'rows, {prepared.unlabelled_rows} unlabelled kept apart) -> '
           f'{prepared.csv_path}')
  # The window's rows at most: the new span's times the window.
  window_rows = prepared.labelled_rows * config.window
  workers = config.workers_for(window_rows)
  config = config.sized_for(window_rows)
  progress('training: ' + (
      'early stopping on a held-out part of the training split'
      if config.train_steps_by_size else f'{config.train_steps} steps')
           + (f', Tuner: {config.tuner_trials} candidates ranked for '
              f'{config.tuner_steps} steps' if config.tune else ''))
  if not beam_pipeline_args:
    progress('beam: DirectRunner, ' + ('in-process' if workers == 1 else
                                        f'{workers} worker processes'))
  exit_code, error = EXIT_OK, None
  with password_redacted(paths.metadata.password), quiet.quiet_run(
      log_path) as components:
    # TFX and TensorFlow load only now: bad input above is answered at once,
    # and what they print on import goes to the log.
    from components import data_gate  # pylint: disable=g-import-not-at-top
    from pipeline import pipeline as pipeline_def  # pylint: disable=g-import-not-at-top
    from components import tfx_api  # pylint: disable=g-import-not-at-top
    tfx_pipeline = pipeline_def.create_pipeline(
        config, paths.input_root, paths.pipeline_root, paths.serving_dir,
        paths.metadata.connection_config(), spec.schema_path,
        list(beam_pipeline_args) if beam_pipeline_args
        else project_paths.local_beam_args(workers), spec=by_kind)
    try:
      tfx_api.LocalDagRunner().run(tfx_pipeline)
    except data_gate.DataAnomaliesError as failure:
      exit_code, error = EXIT_DATA_GATE, str(failure)
    except Exception as failure:  # pylint: disable=broad-except
      logging.getLogger(__name__).exception('the pipeline stopped')
      exit_code = EXIT_COMPONENT_FAILED
      error = f'{type(failure).__name__}: {failure}'.splitlines()[0]
    if exit_code and components:
      components.fail()
    summary = run_summary.latest_run_at(paths.metadata) or {
        'run_id': None, 'components': []}
    if exit_code == EXIT_COMPONENT_FAILED:
      error = f'{failed_component(summary)} failed: {error}' + (
          f' (full log: {log_path})' if log_path else '')
    summary.update(span=prepared.span, input_csv=prepared.csv_path,
                   output=paths.output, metadata=str(paths.metadata),
                   log=log_path,
                   wall_seconds=round(time.time() - started, 1))
    paper_trail.write(paths, summary, files, config.model_name, by_kind)
  return RunResult(exit_code, summary, error)
