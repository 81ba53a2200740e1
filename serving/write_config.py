"""`python -m serving.write_config`: a ModelServerConfig for a serving dir.

Writes TF Serving's text-format config listing every model pushed under
`--serving_dir` (one sub-directory per model name), with absolute base paths,
optional version labels and version policy. Both this project's server and
the real TF Serving read the file unchanged (mount the serving dir at the same
absolute path in the container, see serving/README.md).
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
  args = parser.parse_args(argv)
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
      models.append(spec)
  if not models:
    print(f'No model directories under {serving_dir}', file=sys.stderr)
    return 1
  output = args.output or os.path.join(serving_dir, 'models.config')
  print(server_config.write_model_server_config(output, models), end='')
  print(f'# written to {output}', file=sys.stderr)
  return 0


if __name__ == '__main__':
  sys.exit(main())
