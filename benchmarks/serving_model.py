"""Which model the serving benchmark serves: the pipeline's own.

In order: the `--serving_dir` given; else what `make run` pushed
(runs/default/serving); else a small fresh pipeline run into a temporary
directory (5,000 rows, no tuning, 300 train steps: about two minutes), so
that `make bench-serving` on a fresh clone still measures the real exported
model (Transform graph, text vectorizer, Keras model) and never a stand-in.
"""

import os
import subprocess
import sys
from typing import Dict, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SERVING_DIR = os.path.join(REPO, 'runs', 'default', 'serving')
FRESH_RUN_ARGS = ('--rows', '5000', '--no-tune', '--train-steps', '300')


class ModelNotFound(RuntimeError):
  """No servable version; the message says what was looked at."""


def latest_version(base_path: str) -> Optional[str]:
  """The highest numeric version directory holding a saved_model.pb."""
  if not os.path.isdir(base_path):
    return None
  versions = [d for d in os.listdir(base_path) if d.isdigit() and
              os.path.isfile(os.path.join(base_path, d, 'saved_model.pb'))]
  return max(versions, key=int) if versions else None


def fresh_pipeline_run(output: str) -> str:
  """Runs the pipeline into `output`; returns its serving directory."""
  command = [sys.executable, '-m', 'pipeline', 'run', '--output', output,
             *FRESH_RUN_ARGS]
  print('no pushed model: running', ' '.join(command[1:]), flush=True)
  done = subprocess.run(command, cwd=REPO, check=False)
  if done.returncode != 0:
    raise ModelNotFound(f'the fresh pipeline run failed (exit '
                        f'{done.returncode}); its log is under {output}/logs')
  return os.path.join(output, 'serving')


def resolve(serving_dir: Optional[str], model_name: str,
            scratch: str) -> Dict[str, str]:
  """The model to serve: base path, version directory and where it came from.

  Args:
    serving_dir: --serving_dir, or None to look in runs/default/serving.
    model_name: the model's directory under the serving dir.
    scratch: a temporary directory for a fresh run when nothing is pushed.
  """
  if serving_dir:
    source = f'--serving_dir {serving_dir}'
  elif latest_version(os.path.join(DEFAULT_SERVING_DIR, model_name)):
    serving_dir, source = DEFAULT_SERVING_DIR, 'pushed by make run'
  else:
    serving_dir = fresh_pipeline_run(os.path.join(scratch, 'pipeline'))
    source = 'fresh pipeline run: python -m pipeline run ' + ' '.join(
        FRESH_RUN_ARGS)
  base = os.path.abspath(os.path.join(serving_dir, model_name))
  version = latest_version(base)
  if version is None:
    raise ModelNotFound(f'no model version under {base} (expected '
                        '<version>/saved_model.pb); run `make run` or pass '
                        '--serving_dir')
  return {'base_path': base, 'version': version,
          'version_dir': os.path.join(base, version), 'source': source}
