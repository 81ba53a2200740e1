"""Where everything lives: the one module that knows the project's paths.

The bottom floor of pipeline/: it imports nothing of the project, so the
wiring, the metadata readers, the reports and the CLI can all import it
without a cycle. Every path under a run's `--output` is a property of
`RunPaths`; nothing else rebuilds one from an artifact's URI.
"""

import dataclasses
import hashlib
import os
import time
from typing import Iterable, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(REPO_ROOT, 'pipeline')
COMPONENTS_DIR = os.path.join(REPO_ROOT, 'components')
DEFAULT_OUTPUT = os.path.join(REPO_ROOT, 'runs', 'default')
GENERATED_DIR = os.path.join(REPO_ROOT, 'data', 'generated')
# Shipped with the package (setup.py's package_data): the pipeline refuses
# to run without it rather than infer a schema that would learn bad data.
CURATED_SCHEMA = os.path.join(PACKAGE_DIR, 'schema', 'schema.pbtxt')

# The files preprocessing_fn depends on: a change re-runs Transform.
TRANSFORM_CODE = ('features.py', 'transform.py')

METADATA_FILE = 'metadata.sqlite'
REPORTS_DIR = 'reports'
LOGS_DIR = 'logs'


@dataclasses.dataclass(frozen=True)
class RunPaths:
  """Everything one `--output` folder holds, and where."""
  output: str

  @property
  def input_root(self) -> str:
    """Versioned input: span-N/complaints.csv (what CsvExampleGen reads)."""
    return os.path.join(self.output, 'input')

  @property
  def unlabelled_dir(self) -> str:
    """Rows without a label, kept apart (what a deployed model scores)."""
    return os.path.join(self.output, 'unlabelled')

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output, 'pipeline_root')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output, METADATA_FILE)

  @property
  def serving_dir(self) -> str:
    """Pushed models: <serving_dir>/<model name>/<version>/."""
    return os.path.join(self.output, 'serving')

  def model_dir(self, model_name: str) -> str:
    return os.path.join(self.serving_dir, model_name)

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.output, REPORTS_DIR)

  @property
  def monitoring_dir(self) -> str:
    """One folder per monitored window of served traffic."""
    return os.path.join(self.output, 'monitoring')

  @property
  def logs_dir(self) -> str:
    """One log file per run: everything the libraries printed."""
    return os.path.join(self.output, LOGS_DIR)

  def log_path(self, started: float) -> str:
    """<output>/logs/run-<UTC start time>.log."""
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(started))
    return os.path.join(self.logs_dir, f'run-{stamp}.log')


def run_paths(output: str) -> RunPaths:
  """RunPaths of an --output as given on the command line (made absolute)."""
  return RunPaths(os.path.abspath(output))


def is_generated(path: str) -> bool:
  """Whether an export file lies in the generated-data folder."""
  return os.path.abspath(path).startswith(GENERATED_DIR + os.sep)


def components_files(names: Optional[Iterable[str]] = None) -> List[str]:
  """The .py files of components/ (all, or those named), sorted by name."""
  wanted = None if names is None else set(names)
  return [name for name in sorted(os.listdir(COMPONENTS_DIR))
          if name.endswith('.py') and (wanted is None or name in wanted)]


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def code_fingerprint(names: Optional[Iterable[str]] = None) -> str:
  """SHA-256 over module code in components/ (for cache invalidation).

  Module code wired by dotted path is not fingerprinted by TFX, so this is
  what the runner passes to Transform, Tuner and Trainer to key their cache.

  Args:
    names: file names to include; default every .py file in components/.
  """
  digest = hashlib.sha256()
  for name in components_files(names):
    with open(os.path.join(COMPONENTS_DIR, name), 'rb') as f:
      digest.update(name.encode() + b'\0' + f.read())
  return digest.hexdigest()[:16]


def beam_args(workers: int) -> List[str]:
  """DirectRunner arguments: in-process for 1 worker, else multi-processing."""
  if workers <= 1:
    return ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  return ['--direct_running_mode=multi_processing',
          f'--direct_num_workers={workers}']
