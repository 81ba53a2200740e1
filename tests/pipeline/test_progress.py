"""The quiet run: library output to the log, one line per component."""

import io
import logging
import os
import subprocess
import sys

from pipeline import progress


def _record(msg, *args):
  return logging.LogRecord('absl', logging.INFO, __file__, 1, msg, args, None)


def test_one_line_per_component_from_tfx_records():
  out = io.StringIO()
  handler = progress.ComponentProgress(out, live=False)
  handler.emit(_record('Component %s is running.', 'CsvExampleGen'))
  handler.emit(_record('Going to run a new execution %d', 3))
  handler.emit(_record('Component %s is finished.', 'CsvExampleGen'))
  handler.emit(_record('Component %s is running.', 'Transform'))
  handler.emit(_record('A cached execution %d is used.', 7))
  handler.emit(_record('Component %s is finished.', 'Transform'))
  handler.emit(_record('Component %s is running.', 'Trainer'))
  handler.fail()
  handler.close()
  lines = out.getvalue().splitlines()
  assert [line.split()[:2] for line in lines] == [
      ['CsvExampleGen', 'complete'], ['Transform', 'cached'],
      ['Trainer', 'failed']]
  assert all(line.endswith(' s') for line in lines)
  assert handler.finished == {'CsvExampleGen': 'complete',
                              'Transform': 'cached', 'Trainer': 'failed'}


def test_quiet_run_sends_fds_and_children_to_the_log(tmp_path, capfd):
  log = tmp_path / 'logs' / 'run.log'
  with progress.quiet_run(str(log)) as handler:
    print('from python stdout')
    os.write(2, b'from fd 2 (C++ libraries write here)\n')
    subprocess.run([sys.executable, '-c',
                    'import sys; print("from a child"); '
                    'print("child stderr", file=sys.stderr)'], check=True)
    logging.getLogger('absl').info('Component %s is running.', 'StatisticsGen')
    logging.getLogger('absl').info('Component %s is finished.',
                                   'StatisticsGen')
  captured = capfd.readouterr()
  text = log.read_text()
  for line in ('from python stdout', 'from fd 2', 'from a child',
               'child stderr'):
    assert line in text and line not in captured.out + captured.err, line
  assert 'StatisticsGen' in captured.err and 'complete' in captured.err
  assert handler.finished == {'StatisticsGen': 'complete'}
  print('after the run')  # fds restored
  assert 'after the run' in capfd.readouterr().out


def test_verbose_redirects_nothing(capfd):
  with progress.quiet_run(None) as handler:
    print('on the terminal')
  assert handler is None
  assert 'on the terminal' in capfd.readouterr().out


def test_a_library_lowering_absl_verbosity_loses_no_component(tmp_path,
                                                              capfd):
  # Keras sets absl's verbosity to WARNING when a component loads a model;
  # TFX's "finished" record can come right after (the Evaluator's did).
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logger = logging.getLogger('absl')
  before = absl_logger.level
  with progress.quiet_run(str(tmp_path / 'run.log')) as handler:
    absl_logger.info('Component %s is running.', 'Evaluator')
    absl_logging.set_verbosity(absl_logging.WARNING)
    absl_logger.setLevel(logging.ERROR)
    absl_logger.info('Component %s is finished.', 'Evaluator')
  assert handler.finished == {'Evaluator': 'complete'}
  assert 'Evaluator' in capfd.readouterr().err
  # After the run the logger is its own again and takes any level.
  absl_logger.setLevel(logging.ERROR)
  assert absl_logger.level == logging.ERROR
  absl_logger.setLevel(before)
