"""Which stack is running: its name and the versions that build a model.

The project runs on two pinned stacks (TFX 1.16 on Python 3.10, TFX 1.21 on
Python 3.13; see stacks/README.md). A model is only reproducible with the
stack that built it, so the Trainer records these versions beside its
training curve (components/model.py) and the lineage and the model card show
them. Versions come from the installed distributions' metadata, not from
importing the packages: recording them costs no TensorFlow import.

`python -m components.stack` prints them (`--json` for a machine).
"""

import argparse
import importlib.metadata
import json
import platform
import sys
from typing import Dict, Optional

# Distribution name -> key in the record. TFX, TF and Beam decide the
# stack; the rest are the ones whose APIs differ between the two stacks.
DISTRIBUTIONS = {
    'tfx': 'tfx',
    'tensorflow': 'tensorflow',
    'apache-beam': 'apache_beam',
    'tf-keras': 'tf_keras',
    'keras': 'keras',
    'keras-tuner': 'keras_tuner',
    'tensorflow-transform': 'tensorflow_transform',
    'tensorflow-data-validation': 'tensorflow_data_validation',
    'tensorflow-model-analysis': 'tensorflow_model_analysis',
    'ml-metadata': 'ml_metadata',
    'tensorflow-serving-api': 'tensorflow_serving_api',
    'protobuf': 'protobuf',
}

# The stack names used by the Makefile (STACK=...) and stacks/, by TFX's
# major.minor version.
STACK_BY_TFX = {'1.16': 'tfx116', '1.21': 'tfx121'}


def _version(distribution: str) -> Optional[str]:
  try:
    return importlib.metadata.version(distribution)
  except importlib.metadata.PackageNotFoundError:
    return None


def stack_name(tfx_version: Optional[str]) -> str:
  """'tfx116' / 'tfx121', or 'tfx<major.minor>' for a stack not pinned here."""
  if not tfx_version:
    return 'no-tfx'
  major_minor = '.'.join(tfx_version.split('.')[:2])
  return STACK_BY_TFX.get(major_minor, 'tfx' + major_minor.replace('.', ''))


def stack_versions() -> Dict[str, Optional[str]]:
  """The running stack: name, Python, glibc and the TFX family's versions
  (None for a distribution that is not installed)."""
  record = {key: _version(dist) for dist, key in DISTRIBUTIONS.items()}
  libc, libc_version = platform.libc_ver()
  return {'stack': stack_name(record['tfx']),
          'python': platform.python_version(),
          'glibc': libc_version if libc == 'glibc' else None,
          **record}


NOT_RECORDED = 'not recorded (trained before the Trainer recorded its stack)'


def summary(versions: Optional[Dict[str, Optional[str]]]) -> str:
  """One line for the model card and the lineage: what built the model
  (`versions` as the Trainer recorded them; None for an older model)."""
  if not versions:
    return NOT_RECORDED
  return (f"{versions.get('stack')}: Python {versions.get('python')}, "
          f"TFX {versions.get('tfx')}, TensorFlow {versions.get('tensorflow')}, "
          f"Beam {versions.get('apache_beam')}")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m components.stack',
      description='The running stack and its versions.')
  parser.add_argument('--json', action='store_true',
                      help='all versions as JSON instead of one line')
  args = parser.parse_args(argv)
  versions = stack_versions()
  print(json.dumps(versions, indent=1, sort_keys=True) if args.json
        else summary(versions))
  return 0


if __name__ == '__main__':
  sys.exit(main())
