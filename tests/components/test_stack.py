"""components.stack: the versions it records are the ones that run.

Each expected value comes from a source other than the distributions'
metadata the module reads: the imported packages' own __version__, the
interpreter's sys.version_info and the C library's confstr.
"""

import json
import os
import subprocess
import sys

import apache_beam
import pytest
import tensorflow as tf
import tfx

from components import stack
from tests.conftest import REPO


def test_versions_are_the_imported_packages():
  versions = stack.stack_versions()
  assert versions['tfx'] == tfx.__version__
  assert versions['tensorflow'] == tf.__version__
  assert versions['apache_beam'] == apache_beam.__version__
  assert versions['python'] == '{}.{}.{}'.format(*sys.version_info[:3])
  assert versions['glibc'] == os.confstr('CS_GNU_LIBC_VERSION').split()[-1]


def test_stack_is_named_by_tfx_minor_version():
  assert stack.stack_name('1.16.0') == 'tfx116'
  assert stack.stack_name('1.21.0') == 'tfx121'
  assert stack.stack_name('1.22.1') == 'tfx122'  # unpinned, still named
  assert stack.stack_name(None) == 'no-tfx'
  running = stack.stack_versions()['stack']
  assert running == 'tfx' + ''.join(tfx.__version__.split('.')[:2])


def test_summary_names_python_tfx_tf_and_beam():
  line = stack.summary({'stack': 'tfx121', 'python': '3.13.5',
                        'tfx': '1.21.0', 'tensorflow': '2.21.0',
                        'apache_beam': '2.77.0'})
  assert line == ('tfx121: Python 3.13.5, TFX 1.21.0, TensorFlow 2.21.0, '
                  'Beam 2.77.0')
  assert stack.summary(None) == stack.NOT_RECORDED  # a model from before


def test_the_trainer_records_the_stack_beside_its_curve(tmp_path):
  from components import model as model_lib  # pylint: disable=g-import-not-at-top
  path = model_lib.write_history(str(tmp_path), {'loss': [0.5]}, {}, 0.2,
                                 steps_per_epoch=1)
  recorded = json.loads(open(path).read())['stack']
  assert recorded['tfx'] == tfx.__version__
  assert recorded['tensorflow'] == tf.__version__
  assert recorded['apache_beam'] == apache_beam.__version__


def test_a_missing_distribution_is_none():
  # pylint: disable=protected-access
  assert stack._version('no-such-distribution-of-this-project') is None


@pytest.mark.parametrize('args', [['--json'], []])
def test_command_line(args):
  out = subprocess.run([sys.executable, '-m', 'components.stack', *args],
                       cwd=REPO, capture_output=True, text=True, timeout=60,
                       check=True).stdout
  if args:
    assert json.loads(out)['tfx'] == tfx.__version__
  else:
    assert f'TFX {tfx.__version__}' in out
