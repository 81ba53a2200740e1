"""`python -m pipeline run`: prepares the data, runs the pipeline locally, reports.

All paths are decided here (never in the wiring): the pipeline root, ML
Metadata (SQLite), the pushed models and the input spans all live under
`--output`.
"""

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time

from pipeline.config import PipelineConfig

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, 'runs', 'default')
GENERATED_DIR = os.path.join(REPO_ROOT, 'data', 'generated')
CURATED_SCHEMA = os.path.join(REPO_ROOT, 'pipeline', 'schema', 'schema.pbtxt')

EXAMPLES = """examples:
  python -m pipeline run                          # 50,000 generated complaints
  python -m pipeline run --rows 5000 --no-tune    # quick run
  python -m pipeline run --data complaints.csv    # a real CFPB export
  python -m pipeline run --data data/real/cfpb_labelled_narratives.csv \
      --data data/real/cfpb_labelled_no_narrative.csv  # the shipped real rows
  python -m pipeline run --output /tmp/run1 --train-steps 1000 --beam-workers 2
"""


@dataclasses.dataclass(frozen=True)
class RunPaths:
  output: str

  @property
  def input_root(self): return os.path.join(self.output, 'input')
  @property
  def unlabelled_dir(self): return os.path.join(self.output, 'unlabelled')
  @property
  def pipeline_root(self): return os.path.join(self.output, 'pipeline_root')
  @property
  def metadata_path(self): return os.path.join(self.output, 'metadata.sqlite')
  @property
  def serving_dir(self): return os.path.join(self.output, 'serving')


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline', epilog=EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      description='The consumer-complaints TFX pipeline.')
  sub = parser.add_subparsers(dest='command', required=True)
  run = sub.add_parser('run', help='run the whole pipeline', epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
  defaults = PipelineConfig()
  run.add_argument('--data', action='append', metavar='CSV',
                   help='a CSV in the CFPB export layout; repeat to combine '
                   'files (default: the generated data set)')
  run.add_argument('--output', default=DEFAULT_OUTPUT,
                   help='pipeline root, metadata and pushed models '
                   '(default: %(default)s)')
  run.add_argument('--rows', type=int, default=defaults.rows,
                   help='rows of the generated data set (default: %(default)s)')
  run.add_argument('--seed', type=int, default=defaults.seed)
  run.add_argument('--no-tune', action='store_true', help='skip the Tuner')
  run.add_argument('--train-steps', type=int, default=defaults.train_steps)
  run.add_argument('--beam-workers', type=int, default=defaults.beam_workers,
                   help='DirectRunner workers; 1 runs in-process '
                   '(default: cores = %(default)s)')
  run.add_argument('--json', action='store_true',
                   help='print the summary as JSON')
  output_help = 'the --output of the runs (default: %(default)s)'
  lineage = sub.add_parser(
      'lineage', help='where a pushed model came from (from ML Metadata)',
      epilog='examples:\n  python -m pipeline lineage --output /tmp/run1\n'
      '  python -m pipeline lineage --version 1795451158 --json',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  lineage.add_argument('--output', default=DEFAULT_OUTPUT, help=output_help)
  lineage.add_argument('--version', help='pushed version (default: latest)')
  lineage.add_argument('--json', action='store_true')
  runs = sub.add_parser('runs', help='list past runs')
  runs.add_argument('--output', default=DEFAULT_OUTPUT, help=output_help)
  runs.add_argument('--json', action='store_true')
  compare = sub.add_parser(
      'compare', help='two runs side by side: hyperparameters, data drift, '
      'metrics', epilog='examples:\n  python -m pipeline compare 1 latest\n'
      '  python -m pipeline compare 2026-11-23T16:21:39.267206 2 --json',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  compare.add_argument('run_a', help='run id, index as listed by `runs` '
                       '(1 = oldest) or "latest"')
  compare.add_argument('run_b')
  compare.add_argument('--output', default=DEFAULT_OUTPUT, help=output_help)
  compare.add_argument('--drift-threshold', type=float, default=None,
                       help='L-infinity / Jensen-Shannon distance above '
                       'which a feature has drifted (default: 0.1)')
  compare.add_argument('--json', action='store_true')
  return parser


TRANSFORM_CODE = ('features.py', 'transform.py')


def code_fingerprint(names=None) -> str:
  """SHA-256 over module code in components/ (for cache invalidation).

  Args:
    names: file names to include; default every .py file in components/.
  """
  digest = hashlib.sha256()
  folder = os.path.join(REPO_ROOT, 'components')
  for name in sorted(os.listdir(folder)):
    if name.endswith('.py') and (names is None or name in names):
      with open(os.path.join(folder, name), 'rb') as f:
        digest.update(name.encode() + b'\0' + f.read())
  return digest.hexdigest()[:16]


def beam_args(workers: int):
  if workers <= 1:
    return ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  return ['--direct_running_mode=multi_processing',
          f'--direct_num_workers={workers}']


def run(args) -> int:
  """Runs the pipeline; returns the process exit code."""
  from components import data_gate  # pylint: disable=g-import-not-at-top
  from data import cfpb_export, generate  # pylint: disable=g-import-not-at-top
  from pipeline import input_data, pipeline as pipeline_def, report  # pylint: disable=g-import-not-at-top
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top

  config = PipelineConfig(rows=args.rows, seed=args.seed,
                          tune=not args.no_tune, train_steps=args.train_steps,
                          beam_workers=args.beam_workers,
                          code_fingerprint=code_fingerprint(),
                          transform_fingerprint=code_fingerprint(
                              TRANSFORM_CODE))
  paths = RunPaths(os.path.abspath(args.output))
  started = time.time()
  export_csv = args.data
  if export_csv is None:
    export_csv = [generate.ensure_generated(config.rows, config.seed,
                                            GENERATED_DIR).export_csv]
  try:
    prepared = input_data.prepare(export_csv, paths.input_root,
                                  paths.unlabelled_dir)
  except (cfpb_export.ExportFormatError, OSError) as error:
    print(f'error: cannot use {", ".join(export_csv)}: {error}',
          file=sys.stderr)
    return 2
  print(f'data: span {prepared.span} ({prepared.labelled_rows} labelled rows,'
        f' {prepared.unlabelled_rows} unlabelled kept apart) '
        f'-> {prepared.csv_path}', flush=True)
  schema = CURATED_SCHEMA if os.path.exists(CURATED_SCHEMA) else None
  tfx_pipeline = pipeline_def.create_pipeline(
      config, paths.input_root, paths.pipeline_root, paths.serving_dir,
      paths.metadata_path, schema, beam_args(config.beam_workers))
  exit_code = 0
  try:
    tfx.orchestration.LocalDagRunner().run(tfx_pipeline)
  except data_gate.DataAnomaliesError as error:
    print(f'error: {error}', file=sys.stderr)
    exit_code = 3
  summary = report.summarize(paths, config, prepared, time.time() - started)
  from pipeline import paper_trail  # pylint: disable=g-import-not-at-top
  paper_trail.write(paths, summary, ", ".join(export_csv))
  print(report.render(summary) if not args.json else json.dumps(summary,
                                                               indent=2))
  return exit_code


def main(argv=None) -> int:
  logging.getLogger().setLevel(logging.WARNING)
  args = build_parser().parse_args(argv)
  if args.command == 'run':
    return run(args)
  if args.command == 'lineage':
    from pipeline import lineage  # pylint: disable=g-import-not-at-top
    return lineage.main(args)
  if args.command in ('runs', 'compare'):
    from pipeline import runs  # pylint: disable=g-import-not-at-top
    return runs.main(args)
  return 2
