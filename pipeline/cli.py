"""`python -m pipeline ...`: the top floor, and the only one with a `main`.

Commands: `run` (the pipeline), `lineage` (where a pushed model came from),
`runs` (past runs), `compare` (two runs side by side), `monitor` (served
traffic against training), `feedback` (outcome labels joined with the
logged requests; the A/B verdict), `loop` (all of it, round by round),
`compile` (for Kubeflow / Vertex AI), `curate-schema` (rebuild the
curated schema) and `mlflow-sync` (runs and pushed models into MLflow).
Every command
answers bad input with one line on stderr and exit code 2.
"""

import argparse
import json
import logging
import sys
from typing import Callable, List, Optional

from pipeline import config as pipeline_config
from pipeline import paths as project_paths

EXAMPLES = """examples:
  python -m pipeline run                          # 50,000 generated complaints
  python -m pipeline run --rows 5000 --no-tune    # quick run
  python -m pipeline run --data complaints.csv    # a real CFPB export
  python -m pipeline run --data data/real/cfpb_labelled_narratives.csv \\
      --data data/real/cfpb_labelled_no_narrative.csv  # the shipped real rows
  python -m pipeline run --output /tmp/run1 --train-steps 1000 --beam-workers 2
  python -m pipeline run --min-auc 0.7 --config settings.json
  python -m pipeline run --from-input --window 3  # after `pipeline feedback`
  python -m pipeline run --dataset taxi           # the Chicago taxi trips
  python -m pipeline run --dataset penguins       # three species
  python -m pipeline run --dataset my/birds.yaml --data birds.csv
  python -m pipeline run --dataset taxi --span-by quarter --window 4
  python -m pipeline run --dataset taxi --span-by quarter --until 2014Q2
"""

# Help for the settings whose field name alone does not say enough.
SETTING_HELP = {
    'dataset': 'the dataset spec: a shipped name (cfpb, taxi, penguins) or '
               'a spec file (python -m pipeline init-dataset drafts one)',
    'rows': 'rows of the generated data set (ignored with --data)',
    'tune': 'run the Tuner before the Trainer (--no-tune skips it)',
    'beam_workers': 'DirectRunner workers; 1 runs in-process; 0 chooses by '
                    'the rows (in-process up to --beam-in-process-max-rows)',
    'beam_in_process_max_rows': 'with --beam-workers 0: the most rows in the '
                                'window that run in-process',
    'min_auc': 'the lower bound of the AUC 95%% interval a model must reach '
               'to be blessed',
    'max_auc_regression': 'hold a model back only if it is significantly '
                          'worse than the blessed one by more than this',
    'baseline_significance': 'one-sided level of the paired DeLong test '
                             'against the blessed model',
    'hash_buckets_train': 'train share of the hash split (train:eval)',
    'hash_buckets_eval': 'eval share of the hash split (train:eval)',
    'train_steps': "the Trainer's steps; 0 chooses by the window's rows "
                   '(--train-epochs passes, at least --min-train-steps)',
    'train_epochs': 'with --train-steps 0: passes over the training rows',
    'min_train_steps': 'with --train-steps 0: the fewest train steps',
    'tuner_trials': 'candidates the Tuner ranks (successive halving)',
    'tuner_halving': 'each Tuner round keeps the best 1/N candidates and '
                     'trains them N times longer; 1 trains all at full length',
    'tuner_steps': 'the length the Tuner ranks candidates for; 0: the '
                   "Trainer's steps",
    'window': 'train on the latest N spans ingested into this store (the '
              'new one included); judged on the new span',
    'min_span_rows': 'with --span-by: a period with fewer rows is merged '
                     'with the next',
    'skew_threshold': 'L-infinity distance of a categorical feature, served '
                      'against training, above which it alerts',
    'drift_threshold': 'L-infinity distance against the previous window '
                       'above which a feature alerts',
    'prediction_shift_threshold': 'Jensen-Shannon divergence of the served '
                                  'predicted probabilities from the eval '
                                  "split's",
    'numeric_threshold': 'Jensen-Shannon divergence of a numeric column, '
                         "or of a text column's length in words",
    'attribution_drift_threshold': "change of a feature's served mean "
                                   "|attribution| from the eval split's, as "
                                   "a share of the model's whole dependency",
    'noise_z': 'standard errors of sampling noise a distance must also '
               'exceed to alert',
    'feature_thresholds': 'per-feature thresholds, e.g. state=0.2,company=0.3',
    'ab_margin': 'promote the canary unless its live AUC may be worse than '
                 "the stable version's by more than this (95%% interval)",
    'ab_min_class_rows': 'labelled requests of each class a version needs '
                         'before there is a verdict',
}


def _add_settings(parser: argparse.ArgumentParser, command: str) -> None:
  """One option per config field of the command, named after it."""
  defaults = pipeline_config.PipelineConfig()
  for field in pipeline_config.settable_fields(command):
    default = getattr(defaults, field.name)
    text = SETTING_HELP.get(field.name, field.name.replace('_', ' '))
    if isinstance(default, bool):
      parser.add_argument(pipeline_config.option(field.name),
                          dest=field.name, default=None,
                          action=argparse.BooleanOptionalAction,
                          help=f'{text} (default: {default})')
    else:
      parser.add_argument(pipeline_config.option(field.name),
                          dest=field.name, default=None, type=type(default),
                          metavar=type(default).__name__.upper(),
                          help=f'{text} (default: {default})')


def _add_dataset(parser: argparse.ArgumentParser, default='cfpb') -> None:
  parser.add_argument(
      '--dataset', metavar='NAME_OR_SPEC', default=default,
      help='the dataset spec: a shipped name (cfpb, taxi, penguins) or the '
      'path of a spec file such as init-dataset writes'
      + (' (default: %(default)s)' if default else ''))


def _add_metadata(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      '--metadata', metavar='URI',
      help='ML Metadata in MySQL/MariaDB instead of the SQLite file '
      f'<output>/{project_paths.METADATA_FILE}: '
      f'{project_paths.METADATA_URI_FORMAT} (USER and PASSWORD '
      'percent-encoded, PORT 3306 when left out)')


def _add_mlflow(parser: argparse.ArgumentParser, *aliases: str) -> None:
  parser.add_argument(
      '--mlflow-tracking-uri', *aliases, metavar='URI',
      dest='mlflow_tracking_uri',
      help='an MLflow tracking server (http://HOST:PORT) to log runs and '
      'pushed models to (default: $MLFLOW_TRACKING_URI; with neither, '
      'nothing is sent)')


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m pipeline', epilog=EXAMPLES,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      description='The consumer-complaints TFX pipeline.')
  sub = parser.add_subparsers(dest='command', required=True)
  run = sub.add_parser('run', help='run the whole pipeline', epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
  run.add_argument('--data', action='append', metavar='CSV',
                   help='a CSV in the CFPB export layout; repeat to combine '
                   'files (default: the generated data set)')
  run.add_argument('--data-repo', metavar='DIR',
                   help='read every --data path (relative to DIR) from this '
                   'git + DVC repository, at --data-rev, with dvc.api; the '
                   'lineage records the revision and DVC\'s hash')
  run.add_argument('--data-rev', metavar='REV',
                   help='with --data-repo: the git revision (a tag, branch or '
                   'commit; default: HEAD)')
  run.add_argument('--from-input', action='store_true',
                   help='no export: train on the spans already in '
                   '<output>/input/ (e.g. the one `feedback` wrote)')
  run.add_argument('--span-by', choices=('quarter', 'month'),
                   help="one span per period of the dataset spec's "
                   'timestamp column, ingested one run each, oldest first: '
                   'the new periods that fit the --window (merged with the '
                   'next when under --min-span-rows)')
  run.add_argument('--until', metavar='PERIOD',
                   help='with --span-by: leave out the periods after this '
                   'one (e.g. 2014Q2, 2014-05): replay the data in time')
  run.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                   help='pipeline root, metadata and pushed models '
                   '(default: %(default)s)')
  _add_metadata(run)
  run.add_argument('--config', metavar='JSON',
                   help='a JSON object of settings (the option names below '
                   'with "_" for "-"); options given here win')
  run.add_argument('--json', action='store_true',
                   help='print the summary as JSON')
  run.add_argument('--beam-arg', action='append', metavar='ARG',
                   dest='beam_args', help='a Beam pipeline argument; repeat; '
                   'replaces the DirectRunner arguments of --beam-workers '
                   '(e.g. --beam-arg=--runner=PortableRunner)')
  _add_mlflow(run, '--mlflow')
  run.add_argument('--verbose', action='store_true',
                   help="the libraries' full output on the terminal instead "
                   'of the run log (<output>/logs/)')
  _add_settings(run.add_argument_group('settings'), 'run')
  output_help = 'the --output of the runs (default: %(default)s)'
  lineage = sub.add_parser(
      'lineage', help='where a pushed model came from (from ML Metadata)',
      epilog='examples:\n  python -m pipeline lineage --output /tmp/run1\n'
      '  python -m pipeline lineage --version 1795451158 --json',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  lineage.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                       help=output_help)
  _add_metadata(lineage)
  lineage.add_argument('--version', help='pushed version (default: latest)')
  lineage.add_argument('--json', action='store_true')
  runs = sub.add_parser('runs', help='list past runs')
  runs.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                    help=output_help)
  _add_metadata(runs)
  runs.add_argument('--json', action='store_true')
  compare = sub.add_parser(
      'compare', help='two runs side by side: hyperparameters, data drift, '
      'metrics', epilog='examples:\n  python -m pipeline compare 1 latest\n'
      '  python -m pipeline compare 2026-11-23T16:21:39.267206 2 --json',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  compare.add_argument('run_a', help='run id, index as listed by `runs` '
                       '(1 = oldest) or "latest"')
  compare.add_argument('run_b')
  compare.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                       help=output_help)
  _add_metadata(compare)
  compare.add_argument('--drift-threshold', type=float, default=None,
                       help='L-infinity / Jensen-Shannon distance above '
                       'which a feature has drifted (default: 0.1)')
  compare.add_argument('--json', action='store_true')
  monitor = sub.add_parser(
      'monitor', help='served traffic against what the served model was '
      'trained on: skew, drift, prediction shift (exit 4 on an alert)',
      epilog='examples:\n  python -m pipeline monitor --logs '
      'runs/default/request_logs\n  python -m pipeline monitor --output '
      "/tmp/run1 --logs '/var/log/tfs/complaints*' --json "
      '--feature-thresholds state=0.2',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  monitor.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                       help='the --output of the runs that pushed the served '
                       'model (default: %(default)s)')
  _add_metadata(monitor)
  monitor.add_argument('--logs', required=True, metavar='DIR_OR_GLOB',
                       help="the server's PredictionLog files of one window")
  monitor.add_argument('--config', metavar='JSON',
                       help='a JSON object of settings; options given here '
                       'win')
  monitor.add_argument('--json', action='store_true')
  _add_dataset(monitor)
  _add_settings(monitor.add_argument_group('thresholds'), 'monitor')
  feedback = sub.add_parser(
      'feedback', help='join outcome labels with the logged requests: live '
      'AUC of the served model, and a new labelled span of the features as '
      'served',
      epilog='examples:\n  python -m pipeline feedback labels.csv --logs '
      'runs/default/request_logs\n  python -m pipeline feedback '
      'trips.csv --dataset taxi --logs runs/taxi/request_logs --output '
      'runs/taxi',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  feedback.add_argument('labels', help="a CSV with the dataset spec's ID "
                        'column (CFPB: "Complaint ID") and label column '
                        '("Consumer disputed?", Yes/No); for a spec without '
                        'an ID, the row_key the bulk client sent, or the '
                        'labelled rows themselves')
  feedback.add_argument('--logs', required=True, metavar='DIR_OR_GLOB',
                        help="the server's PredictionLog files")
  feedback.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                        help='the --output of the runs (the new span goes to '
                        'its input/; default: %(default)s)')
  feedback.add_argument('--no-span', action='store_true',
                        help='only report; write no new span')
  feedback.add_argument('--config', metavar='JSON',
                        help='a JSON object of settings; options given here '
                        'win')
  feedback.add_argument('--json', action='store_true')
  _add_dataset(feedback)
  _add_settings(feedback.add_argument_group('the A/B test'), 'feedback')
  sync = sub.add_parser(
      'mlflow-sync', help='copy the runs of an --output, and its pushed '
      'models, into an MLflow tracking server (idempotent)',
      epilog='examples:\n  python -m pipeline mlflow-sync --output /tmp/run1 '
      '--mlflow-tracking-uri http://127.0.0.1:5000\n  MLFLOW_TRACKING_URI='
      'http://127.0.0.1:5000 python -m pipeline mlflow-sync --json',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  sync.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                    help=output_help)
  _add_metadata(sync)
  _add_mlflow(sync)
  sync.add_argument('--experiment', help="the MLflow experiment (default: "
                    "the pipeline's name)")
  sync.add_argument('--json', action='store_true')
  _add_loop_parser(sub)
  _add_compile_parser(sub)
  init = sub.add_parser(
      'init-dataset', help='draft a dataset spec and a curated schema from '
      'a CSV, for you to review',
      epilog='examples:\n  python -m pipeline init-dataset --data trips.csv '
      '--label big_tipper --out datasets/\n  python -m pipeline init-dataset '
      '--data birds.csv --label species --name birds --out my_specs/',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  init.add_argument('--data', required=True, metavar='CSV')
  init.add_argument('--label', required=True, metavar='COLUMN',
                    help='the column to predict')
  init.add_argument('--positive', metavar='VALUE',
                    help='binary: the label value of the positive class '
                    '(default: 1/yes/true, else the rarer value)')
  init.add_argument('--out', required=True, metavar='DIR',
                    help='where <name>.yaml and <name>.schema.pbtxt go')
  init.add_argument('--name', help='the data set\'s name (default: from the '
                    'file name)')
  init.add_argument('--force', action='store_true',
                    help='replace existing files')
  init.add_argument('--json', action='store_true')
  curate = sub.add_parser(
      'curate-schema', help='rebuild a curated schema: the CFPB one from a '
      'schema SchemaGen inferred (pipeline/schema/curate.py), or the one a '
      'dataset spec names, from its data',
      epilog='examples:\n  python -m pipeline curate-schema inferred.pbtxt\n'
      '  python -m pipeline curate-schema --dataset taxi\n'
      '  python -m pipeline curate-schema --dataset my/birds.yaml --data '
      'birds.csv', formatter_class=argparse.RawDescriptionHelpFormatter)
  curate.add_argument('inferred', nargs='?',
                      help='an inferred schema.pbtxt (the CFPB schema)')
  _add_dataset(curate, default=None)
  curate.add_argument('--data', metavar='CSV',
                      help="with --dataset: draft from this CSV instead of "
                      "the spec's data")
  return parser


def _add_loop_parser(sub) -> None:
  """`loop`: train, serve, monitor, feed back, retrain, A/B, per scenario."""
  from pipeline import loop  # pylint: disable=g-import-not-at-top
  from data import scenarios  # pylint: disable=g-import-not-at-top
  defaults = ', '.join(f'--{k.replace("_", "-")} {v}'.replace(
      '--tune False', '--no-tune') for k, v in loop.LOOP_DEFAULTS.items())
  parser = sub.add_parser(
      'loop', help='the life cycle as one command: train, serve, send a '
      "scenario's traffic, monitor, feed the labels back, retrain on the "
      'window, A/B test, promote',
      epilog='examples:\n  python -m pipeline loop --output /tmp/loop\n'
      '  python -m pipeline loop --scenario concept_drift --traffic-rows '
      '2000\n  python -m pipeline loop --dataset taxi --output /tmp/taxi  '
      '# real trips, a round per quarter\n'
      f'\nthe loop runs with {defaults} unless told otherwise',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--output', default=project_paths.DEFAULT_OUTPUT,
                      help='the loop works here (default: %(default)s)')
  parser.add_argument('--scenario', action='append', metavar='NAME',
                      choices=sorted(set(scenarios.SCENARIOS)),
                      help='a round of this scenario of change; repeat '
                      f'(default: {", ".join(loop.DEFAULT_SCENARIOS)}; all: '
                      f'{", ".join(sorted(scenarios.SCENARIOS))})')
  parser.add_argument('--traffic-rows', type=int, default=loop.TRAFFIC_ROWS,
                      help='complaints each span of traffic sends (default: '
                      '%(default)s)')
  parser.add_argument('--canary-share', type=float,
                      default=loop.CANARY_SHARE,
                      help="the canary's share of an A/B round's traffic "
                      '(default: %(default)s)')
  parser.add_argument('--span-by', choices=('quarter', 'month'),
                      default='quarter',
                      help='with --dataset other than cfpb: one round per '
                      "period of the spec's timestamp (default: "
                      '%(default)s)')
  parser.add_argument('--data', action='append', metavar='CSV',
                      help="with --dataset: the CSV (default: the spec's "
                      'data)')
  parser.add_argument('--rounds', type=int, metavar='N',
                      help='with --dataset: stop after N rounds (default: '
                      'when the data ends)')
  parser.add_argument('--config', metavar='JSON',
                      help='a JSON object of settings; options given here '
                      'win')
  parser.add_argument('--json', action='store_true')
  _add_mlflow(parser)
  _add_settings(parser.add_argument_group('settings'), 'run')


def _add_compile_parser(sub) -> None:
  """`compile`: the pipeline as another orchestrator's spec (offline)."""
  from pipeline import kubeflow  # pylint: disable=g-import-not-at-top
  compile_ = sub.add_parser(
      'compile', help='compile the pipeline for Kubeflow Pipelines v2 / '
      'Vertex AI Pipelines (offline: no network, no credentials)',
      epilog='examples:\n  python -m pipeline compile --target kubeflow-v2 '
      '--out pipeline.json \\\n      --pipeline-root gs://BUCKET/complaints '
      '--image REGION-docker.pkg.dev/PROJECT/REPO/complaints:1\n'
      '  python -m pipeline compile --target kubeflow-v2 --out pipeline.yaml '
      '--no-tune \\\n      --beam-arg=--runner=DataflowRunner '
      '--beam-arg=--project=PROJECT --beam-arg=--region=REGION',
      formatter_class=argparse.RawDescriptionHelpFormatter)
  compile_.add_argument('--target', required=True, choices=[kubeflow.TARGET])
  compile_.add_argument('--out', required=True, metavar='FILE',
                        help='.json: the PipelineJob (Vertex AI); .yaml: the '
                        "PipelineSpec (KFP's client and UI)")
  compile_.add_argument('--pipeline-root',
                        default=kubeflow.DEFAULT_PIPELINE_ROOT,
                        metavar='URI', help='where the components write '
                        'artifacts; a run may override it (default: '
                        '%(default)s, a placeholder)')
  compile_.add_argument('--image', default=kubeflow.DEFAULT_IMAGE,
                        help='the component image built from the Dockerfile '
                        '(default: %(default)s)')
  compile_.add_argument('--data-root', metavar='URI',
                        help='default of the data_root runtime parameter, the '
                        'folder of span-N/*.csv (default: '
                        '<pipeline-root>/input)')
  compile_.add_argument('--serving-dir', metavar='URI',
                        help="the Pusher's destination (default: "
                        '<pipeline-root>/serving)')
  compile_.add_argument('--beam-arg', action='append', metavar='ARG',
                        dest='beam_args', help='a Beam pipeline argument; '
                        'repeat; replaces the DirectRunner arguments')
  compile_.add_argument('--config', metavar='JSON',
                        help='a JSON object of settings; options given here '
                        'win')
  _add_settings(compile_.add_argument_group('settings'), 'run')


def _fail(message: str, code: int = 2) -> int:
  print(f'error: {message}', file=sys.stderr)
  return code


def _holding(output: str, body: Callable[[], int], create: bool = True) -> int:
  """body()'s exit code, run while this process holds --output; exit 2 with
  one line naming the holder when another process does.

  The writers (run, loop, monitor, feedback) call it once their arguments
  are checked, so bad input still leaves nothing behind; the readers (runs,
  lineage, compare) take no lock. create=False: a missing folder is not
  made (monitor and feedback then say what is missing).
  """
  from pipeline import output_lock  # pylint: disable=g-import-not-at-top
  try:
    with output_lock.hold(output, create=create):
      return body()
  except output_lock.OutputLockError as error:
    return _fail(str(error))


def _config(args, command: str) -> pipeline_config.PipelineConfig:
  """The config of a command: defaults, then --config, then its options."""
  file_values = (pipeline_config.read_file(args.config) if args.config
                 else None)
  return pipeline_config.build(file_values, {
      f.name: getattr(args, f.name)
      for f in pipeline_config.settable_fields(command)})


def run_command(args) -> int:
  """`run`: exit 0, 1 (a component failed), 2 (bad input), 3 (data gate)."""
  try:
    config = _config(args, 'run')
  except pipeline_config.ConfigError as error:
    return _fail(str(error))
  if args.from_input and args.data:
    return _fail('--from-input trains on the spans already in '
                 '<output>/input/: give it or --data, not both')
  if args.span_by and (args.from_input or args.data_repo):
    return _fail('--span-by cuts --data (or the spec\'s data) into spans: '
                 'not with --from-input or --data-repo')
  if args.until and not args.span_by:
    return _fail('--until needs --span-by')
  from pipeline import data_versions  # pylint: disable=g-import-not-at-top
  try:
    args.data_version = data_versions.check_request(
        args.data_repo, args.data_rev, args.data)
    if args.data_version:
      data_versions.check_revision(args.data_version, args.data)
  except data_versions.DataVersionError as error:
    return _fail(str(error))
  return _holding(args.output, lambda: _run_pipeline(args, config))


def _run_pipeline(args, config: pipeline_config.PipelineConfig) -> int:
  from pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from pipeline.reports import summary_text  # pylint: disable=g-import-not-at-top
  # Progress on stderr, the summary on stdout: `--json > summary.json` works.
  paths = project_paths.run_paths(args.output, args.metadata)
  def progress(line):
    print(line, file=sys.stderr, flush=True)
  if args.span_by:
    from pipeline import period_runs  # pylint: disable=g-import-not-at-top
    result = period_runs.run(config, paths, args.data, args.span_by,
                             args.until, progress, verbose=args.verbose,
                             beam_pipeline_args=args.beam_args)
    if not result.summary.get('components'):   # nothing new, or bad input
      if args.json and result.exit_code == 0:
        print(json.dumps(result.summary, indent=2))
      if result.error:
        print(f'error: {result.error}', file=sys.stderr, flush=True)
      return result.exit_code
  else:
    result = local_runner.run(
        config, paths, args.data, progress=progress,
        verbose=args.verbose, beam_pipeline_args=args.beam_args,
        from_input=args.from_input, data_version=args.data_version)
  if args.mlflow and result.summary.get('run_id'):
    _log_to_mlflow(args, [result.summary['run_id']])
  if result.summary.get('components') or result.exit_code == 0:
    print(json.dumps(result.summary, indent=2) if args.json
          else summary_text.render(result.summary), flush=True)
  if result.error:
    print(f'error: {result.error}', file=sys.stderr, flush=True)
  if result.summary.get('log'):
    from pipeline import progress  # pylint: disable=g-import-not-at-top
    progress.send_shutdown_noise_to(result.summary['log'])
  return result.exit_code


def _log_to_mlflow(args, run_ids) -> None:
  """A finished run into MLflow; a failure is a warning (the run stands)."""
  from pipeline.metadata import store  # pylint: disable=g-import-not-at-top
  from pipeline.tracking import mlflow_rest, mlflow_sync  # pylint: disable=g-import-not-at-top
  try:
    mlflow_sync.sync(project_paths.run_paths(args.output, args.metadata),
                     args.mlflow, only=run_ids,
                     progress=lambda line: print(line, file=sys.stderr))
  except (mlflow_rest.TrackingError, store.NoMetadataError) as error:
    print(f'warning: the run was not logged to MLflow: {error}',
          file=sys.stderr)


def mlflow_sync_command(args) -> int:
  """`mlflow-sync`: exit 0, or 2 (no tracking URI, no store, server)."""
  from pipeline.metadata import store  # pylint: disable=g-import-not-at-top
  from pipeline.tracking import mlflow_rest, mlflow_sync  # pylint: disable=g-import-not-at-top
  if not args.mlflow:
    return _fail('mlflow-sync needs --mlflow-tracking-uri URI (or '
                 f'${mlflow_rest.ENV_TRACKING_URI})')
  try:
    rows = mlflow_sync.sync(
        project_paths.run_paths(args.output, args.metadata), args.mlflow,
        args.experiment)
  except (store.NoMetadataError, mlflow_rest.TrackingError) as error:
    return _fail(str(error))
  print(json.dumps(rows, indent=2) if args.json
        else mlflow_sync.render(rows, args.mlflow.uri))
  return 0


def lineage_command(args) -> int:
  """`lineage`: exit 0 with the lineage, 2 with a one-line error."""
  from pipeline.metadata import lineage, store  # pylint: disable=g-import-not-at-top
  from pipeline.reports import lineage_text  # pylint: disable=g-import-not-at-top
  paths = project_paths.run_paths(args.output, args.metadata)
  try:
    result = lineage.lineage_of_version(paths.metadata, args.version)
  except (store.NoMetadataError, lineage.LineageError) as error:
    return _fail(str(error))
  print(json.dumps(result, indent=2) if args.json
        else lineage_text.render(result))
  return 0


def runs_command(args) -> int:
  """`runs` and `compare`: exit 0, or 2 with a one-line error."""
  from pipeline.metadata import runs, store  # pylint: disable=g-import-not-at-top
  from pipeline.reports import runs_text  # pylint: disable=g-import-not-at-top
  paths = project_paths.run_paths(args.output, args.metadata)
  try:
    if args.command == 'runs':
      result = runs.list_runs(paths.metadata)
      text = runs_text.render_runs(result) if result else 'no runs recorded'
    else:
      result = runs.compare(paths.metadata, args.run_a, args.run_b,
                            args.drift_threshold)
      text = runs_text.render_compare(result)
  except (store.NoMetadataError, runs.RunNotFoundError) as error:
    return _fail(str(error))
  print(json.dumps(result, indent=2) if args.json else text)
  return 0


def monitor_command(args) -> int:
  """`monitor`: exit 0 healthy, 4 on an alert, 2 on logs it cannot judge."""
  try:
    config = _config(args, 'monitor')
  except pipeline_config.ConfigError as error:
    return _fail(str(error))
  return _holding(args.output, lambda: _monitor(args, config), create=False)


def _monitor(args, config: pipeline_config.PipelineConfig) -> int:
  from pipeline.metadata import store  # pylint: disable=g-import-not-at-top
  from pipeline.monitoring import monitor, prediction_logs  # pylint: disable=g-import-not-at-top
  from pipeline.reports import monitor_report, monitor_text  # pylint: disable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  paths = project_paths.run_paths(args.output, args.metadata)
  try:
    spec = dataset_spec.load(args.dataset)
    config = config.for_spec(spec)
    result = monitor.monitor(
        paths, args.logs, config.model_name,
        monitor.Thresholds.from_config(config), spec)
  except (prediction_logs.NoLogsError, monitor.MonitorInputError,
          store.NoMetadataError, dataset_spec.SpecError) as error:
    return _fail(str(error))
  result['report'] = monitor_report.write(paths, result)
  print(json.dumps(result, indent=2, default=float) if args.json
        else monitor_text.render(result))
  return 4 if result['alert'] else 0


def feedback_command(args) -> int:
  """`feedback`: exit 0, or 2 when the labels or logs cannot be joined."""
  return _holding(args.output, lambda: _feedback(args), create=False)


def _feedback(args) -> int:
  from pipeline.metadata import store  # pylint: disable=g-import-not-at-top
  from pipeline.monitoring import feedback, prediction_logs  # pylint: disable=g-import-not-at-top
  from pipeline.reports import feedback_text  # pylint: disable=g-import-not-at-top
  from pipeline.monitoring import ab_test  # pylint: disable=g-import-not-at-top
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  try:
    spec = dataset_spec.load(args.dataset)
    config = _config(args, 'feedback').for_spec(spec)
    result = feedback.join(
        project_paths.run_paths(args.output), args.labels, args.logs,
        config.model_name, write_span=not args.no_span,
        rule=ab_test.Rule.from_config(config), spec=spec)
  except (pipeline_config.ConfigError, feedback.FeedbackInputError,
          prediction_logs.NoLogsError, store.NoMetadataError,
          dataset_spec.SpecError) as error:
    return _fail(str(error))
  print(json.dumps(result, indent=2) if args.json
        else feedback_text.render(result))
  return 0


def loop_command(args) -> int:
  """`loop`: exit 0, 1 (a step failed) or 2 (bad input)."""
  from pipeline import loop  # pylint: disable=g-import-not-at-top
  try:
    file_values = dict(loop.LOOP_DEFAULTS)
    if args.config:
      file_values.update(pipeline_config.read_file(args.config))
    config = pipeline_config.build(file_values, {
        f.name: getattr(args, f.name)
        for f in pipeline_config.settable_fields('run')})
  except pipeline_config.ConfigError as error:
    return _fail(str(error))
  if args.rounds is not None and args.rounds < 1:
    return _fail(f'--rounds must be at least 1, not {args.rounds}')
  if not 0.0 < args.canary_share < 1.0:
    return _fail(f'--canary-share must be between 0 and 1, not '
                 f'{args.canary_share}')
  if config.dataset != pipeline_config.PipelineConfig().dataset:
    from components import dataset_spec  # pylint: disable=g-import-not-at-top
    from pipeline import period_loop  # pylint: disable=g-import-not-at-top
    try:
      spec = dataset_spec.load(config.dataset)
    except dataset_spec.SpecError as error:
      return _fail(str(error))
    if not spec.timestamp_column:
      return _fail(f'the loop replays {spec.name} in time, a round per '
                   'period, but its spec declares no timestamp column: add '
                   'timestamp: {column: ..., format: ...} to it')
    if args.scenario:
      return _fail('--scenario draws CFPB traffic from the generator; with '
                   '--dataset the traffic is the data\'s next period')
    plan = period_loop.PeriodPlan(args.data, args.span_by, args.canary_share,
                                  args.rounds)
    return _holding(args.output, lambda: _loop(args, config, plan))
  if args.data or args.rounds is not None:
    return _fail('--data and --rounds go with --dataset (the CFPB loop\'s '
                 'traffic comes from the generator)')
  if args.traffic_rows < 200:
    return _fail(f'--traffic-rows must be at least 200, not '
                 f'{args.traffic_rows}')
  plan = loop.LoopPlan(args.scenario or loop.DEFAULT_SCENARIOS,
                       args.traffic_rows, args.canary_share)
  return _holding(args.output, lambda: _loop(args, config, plan))


def _loop(args, config: pipeline_config.PipelineConfig, plan) -> int:
  from pipeline import loop, period_loop  # pylint: disable=g-import-not-at-top
  by_period = isinstance(plan, period_loop.PeriodPlan)
  kind = period_loop.PeriodLoop if by_period else loop.Loop
  try:
    result = kind(
        config, project_paths.run_paths(args.output), plan,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        mlflow=args.mlflow).run()
  except loop.LoopError as error:
    return _fail(str(error), code=1)
  render = period_loop.render if by_period else loop.render
  print(json.dumps(result, indent=2, default=float) if args.json
        else render(result))
  return 0


def curate_command(args) -> int:
  """`curate-schema`: exit 0, or 2 when the inferred schema is unreadable."""
  import os  # pylint: disable=g-import-not-at-top
  if bool(args.inferred) == bool(args.dataset):
    return _fail('give an inferred schema file or --dataset, one of them')
  if args.dataset:
    return _curate_for_spec(args)
  if not os.path.isfile(args.inferred):
    return _fail(f'no such schema file: {args.inferred}')
  from pipeline.schema import curate  # pylint: disable=g-import-not-at-top
  try:
    print('wrote', curate.curate_file(args.inferred))
  except Exception as error:  # pylint: disable=broad-except
    return _fail(f'cannot curate {args.inferred}: {error}'.splitlines()[0])
  return 0


def _curate_for_spec(args) -> int:
  """`curate-schema --dataset`: the spec's schema drafted from its data."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  from pipeline import dataset_draft  # pylint: disable=g-import-not-at-top
  from pipeline import progress  # pylint: disable=g-import-not-at-top
  try:
    spec = dataset_spec.load(args.dataset)
    with progress.quiet_libraries():
      written = dataset_draft.schema_for_spec(spec, args.data)
  except (dataset_draft.DraftError, dataset_spec.SpecError,
          spec_frame.DataKindError) as error:
    return _fail(str(error))
  except OSError as error:
    return _fail(f'cannot write the schema: {error.strerror or error}')
  print('wrote', written)
  return 0


def init_dataset_command(args) -> int:
  """`init-dataset`: exit 0 with the draft written, or 2 on bad input."""
  from components import dataset_spec  # pylint: disable=g-import-not-at-top
  from data import spec_frame  # pylint: disable=g-import-not-at-top
  from pipeline import dataset_draft  # pylint: disable=g-import-not-at-top
  from pipeline import progress  # pylint: disable=g-import-not-at-top
  try:
    with progress.quiet_libraries():
      result = dataset_draft.draft(args.data, args.label, args.out,
                                   positive=args.positive, name=args.name,
                                   force=args.force)
  except (dataset_draft.DraftError, dataset_spec.SpecError,
          spec_frame.DataKindError) as error:
    return _fail(str(error))
  except OSError as error:
    return _fail(f'cannot write the draft to {args.out}: '
                 f'{error.strerror or error}')
  print(json.dumps(result, indent=2) if args.json
        else dataset_draft.render(result))
  return 0


def compile_command(args) -> int:
  """`compile`: exit 0 with the spec written, or 2 on bad input."""
  from pipeline import kubeflow  # pylint: disable=g-import-not-at-top
  try:
    config = _config(args, 'run')
    target = kubeflow.Target(
        pipeline_root=args.pipeline_root, image=args.image,
        data_root=args.data_root, serving_dir=args.serving_dir,
        beam_args=args.beam_args)
    kubeflow.compile_to(config, target, args.out)
  except (pipeline_config.ConfigError, kubeflow.CompileError) as error:
    return _fail(str(error))
  print('wrote', args.out)
  return 0


COMMANDS = {'run': run_command, 'lineage': lineage_command,
            'runs': runs_command, 'compare': runs_command,
            'monitor': monitor_command, 'feedback': feedback_command,
            'loop': loop_command, 'curate-schema': curate_command,
            'init-dataset': init_dataset_command,
            'compile': compile_command, 'mlflow-sync': mlflow_sync_command}


def main(argv: Optional[List[str]] = None) -> int:
  logging.getLogger().setLevel(logging.WARNING)
  # TensorFlow's deprecation notices (TFMA's readers) say nothing to a user
  # of these commands; `run` sends the libraries' output to its log anyway.
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  args = build_parser().parse_args(argv)
  try:  # --metadata: a malformed URI or a server not there is bad input
    args.metadata = project_paths.metadata_database(
        getattr(args, 'metadata', None))
  except project_paths.MetadataUriError as error:
    return _fail(str(error))
  try:  # --mlflow-tracking-uri: a server not there is bad input, at once
    args.mlflow = _mlflow_client(args)
  except ValueError as error:
    return _fail(str(error))
  return COMMANDS[args.command](args)


def _mlflow_client(args):
  """The MLflow server of --mlflow-tracking-uri or $MLFLOW_TRACKING_URI,
  proved to answer (None: not asked, or a command that sends nothing)."""
  if not hasattr(args, 'mlflow_tracking_uri'):
    return None
  from pipeline.tracking import mlflow_rest  # pylint: disable=g-import-not-at-top
  return mlflow_rest.connect(args.mlflow_tracking_uri)
