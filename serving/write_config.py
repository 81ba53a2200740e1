"""`python -m serving.write_config`: a ModelServerConfig for a serving dir.

Writes TF Serving's text-format config listing every model pushed under
`--serving_dir` (one sub-directory per model name), with absolute base paths,
optional version labels and version policy. Both this project's server and
the real TF Serving read the file unchanged (mount the serving dir at the same
absolute path in the container, see serving/README.md).

`--request_log_dir DIR` adds a `logging_config` to every model (request
logging as TF Serving's PredictionLog, to `DIR/<model>/<model>-*.tfrecord`).
Only this project's server accepts it: stock tensorflow_model_server
registers no log collector and refuses to start with one, so a config for
the real TF Serving is written without it (the default).
"""

import argparse
import os
import sys
from typing import Dict, List, Optional

from serving import server_config


def _labels(text: Optional[str]) -> Dict[str, int]:
  labels = {}
  for item in filter(None, (text or '').split(',')):
    name, _, version = item.partition('=')
    labels[name.strip()] = int(version)
  return labels


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m serving.write_config', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog='example:\n  python -m serving.write_config --serving_dir '
             'output/serving --labels stable=1700000000,canary=1700000500')
  parser.add_argument('--serving_dir', required=True)
  parser.add_argument('--output', help='default: <serving_dir>/models.config')
  parser.add_argument('--labels', help='label=version,... (applied to every '
                      'model; their versions are kept loaded)')
  parser.add_argument('--request_log_dir',
                      help='log sampled requests of every model as '
                      'PredictionLog TFRecords under DIR/<model>/ (a '
                      'logging_config: serving.model_server only, the real '
                      'TF Serving refuses it)')
  parser.add_argument('--request_log_sampling_rate', type=float, default=1.0,
                      help='share of requests logged, 0-1 (default: 1)')
  args = parser.parse_args(argv)
  if not 0.0 <= args.request_log_sampling_rate <= 1.0:
    parser.error('--request_log_sampling_rate must be between 0 and 1')
  serving_dir = os.path.abspath(args.serving_dir)
  labels = _labels(args.labels)
  models = []
  for name in sorted(os.listdir(serving_dir)):
    path = os.path.join(serving_dir, name)
    if os.path.isdir(path) and not name.startswith('.'):
      spec = {'name': name, 'base_path': path}
      if labels:
        spec['labels'] = labels
        spec['versions'] = sorted(set(labels.values()))
      if args.request_log_dir:
        spec['logging'] = {
            'type': 'tfrecord',
            'filename_prefix': os.path.join(
                os.path.abspath(args.request_log_dir), name, name),
            'sampling_rate': args.request_log_sampling_rate}
      models.append(spec)
  if not models:
    print(f'No model directories under {serving_dir}', file=sys.stderr)
    return 1
  output = args.output or os.path.join(serving_dir, 'models.config')
  print(server_config.write_model_server_config(output, models), end='')
  print(f'# written to {output}', file=sys.stderr)
  if args.request_log_dir:
    print('# with logging_config: for serving.model_server only (the real '
          'TF Serving refuses to start with it)', file=sys.stderr)
  return 0


if __name__ == '__main__':
  sys.exit(main())
