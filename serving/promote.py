"""`python -m serving.promote`: end an A/B test by moving a version label.

Moves `--to` (default `stable`) to the version `--from` (default `canary`)
points at, in the server's model config file, written whole to a temporary
file and renamed over the old one, so a server polling it
(`--model_config_file_poll_wait_seconds`) never reads half a file. The
server applies it at its next poll, without a restart; requests already
under way finish on the version they started on. The real TF Serving reads
the same file the same way. Both versions stay in the version policy, so
rolling back is the same command with the labels swapped
(`--from stable_before ...`) or a `serving.write_config` run.
"""

import argparse
import os
import sys
import tempfile
from typing import List, Optional

from google.protobuf import text_format

from serving import server_config
from serving import status


class PromoteError(ValueError):
  """A config or label the promotion cannot use: one line, exit 2."""


def promote(config_file: str, model_name: str, source: str = 'canary',
            target: str = 'stable') -> dict:
  """Points `target` at the version `source` labels; returns what moved."""
  try:
    config = server_config.read_model_server_config(config_file)
  except status.ServingError as error:
    raise PromoteError(f'cannot read {config_file}: {error}') from None
  models = [m for m in config.model_config_list.config
            if m.name == model_name]
  if not models:
    names = ', '.join(m.name for m in config.model_config_list.config)
    raise PromoteError(f'{config_file} has no model {model_name!r} (it has: '
                       f'{names or "none"})')
  model = models[0]
  if source not in model.version_labels:
    raise PromoteError(f'model {model_name} has no label {source!r} in '
                       f'{config_file} (labels: '
                       f'{dict(model.version_labels) or "none"})')
  version = model.version_labels[source]
  before = model.version_labels.get(target)
  model.version_labels[target] = version
  policy = model.model_version_policy
  if policy.WhichOneof('policy_choice') == 'specific' and (
      version not in policy.specific.versions):
    policy.specific.versions.append(version)
  folder = os.path.dirname(os.path.abspath(config_file))
  with tempfile.NamedTemporaryFile('w', dir=folder, delete=False,
                                   prefix='.promote-', suffix='.tmp',
                                   encoding='utf-8') as f:
    f.write(text_format.MessageToString(config))
    temp = f.name
  os.replace(temp, config_file)
  return {'model_name': model_name, 'label': target, 'from_version': before,
          'to_version': version, 'config_file': config_file,
          'labels': dict(model.version_labels)}


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m serving.promote', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog='example:\n  python -m serving.promote --model_config_file '
             'runs/default/serving/models.config --model_name complaints')
  parser.add_argument('--model_config_file', required=True)
  parser.add_argument('--model_name', default='complaints')
  parser.add_argument('--from', dest='source', default='canary',
                      help='the label whose version is promoted (default: '
                      '%(default)s)')
  parser.add_argument('--to', dest='target', default='stable',
                      help='the label moved (default: %(default)s)')
  parser.add_argument('--mlflow-tracking-uri', metavar='URI',
                      help="mirror the model's labels as aliases of its "
                      'registered model in this MLflow server (default: '
                      '$MLFLOW_TRACKING_URI; with neither, nothing is sent)')
  args = parser.parse_args(argv)
  try:
    from pipeline.tracking import mlflow_rest  # pylint: disable=g-import-not-at-top
    mlflow = mlflow_rest.connect(args.mlflow_tracking_uri)
    moved = promote(args.model_config_file, args.model_name, args.source,
                    args.target)
  except (PromoteError, ValueError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(f"{moved['model_name']}: {moved['label']} "
        f"{moved['from_version'] or '(none)'} -> {moved['to_version']} in "
        f"{moved['config_file']} (applied at the server's next config poll)")
  if mlflow:
    return _mirror(mlflow, moved)
  return 0


def _mirror(client, moved: dict) -> int:
  """The labels as MLflow aliases; exit 0, or 1 if MLflow refused (the
  promotion itself is done)."""
  from pipeline.tracking import mlflow_registry, mlflow_rest  # pylint: disable=g-import-not-at-top
  name, labels = moved['model_name'], moved['labels']
  try:
    aliases = mlflow_registry.mirror_labels(client, name, labels)
  except mlflow_rest.TrackingError as error:
    print(f'error: the promotion is done, but MLflow\'s aliases were not '
          f'moved: {error}', file=sys.stderr)
    return 1
  warning = mlflow_registry.missing_line(name, aliases, labels)
  if warning:
    print(f'warning: {warning}', file=sys.stderr)
  print(f'MLflow {client.uri}: ' + ', '.join(
      f'{label} -> version {version}' for label, version in
      sorted(aliases.items()) if version is not None))
  return 0


if __name__ == '__main__':
  sys.exit(main())
