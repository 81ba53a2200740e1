"""Every setting reachable from the command line or a file, and checked."""

import json

import pytest

from pipeline import cli
from pipeline import config as pipeline_config


def test_every_settable_field_has_an_option():
  parser = cli.build_parser()
  args = parser.parse_args([
      'run', '--min-auc', '0.7', '--max-auc-regression', '0.02',
      '--tuner-trials', '5', '--no-tune', '--model-name', 'm2',
      '--hash-buckets-eval', '2', '--eval-steps', '7'])
  config = pipeline_config.build(None, {
      f.name: getattr(args, f.name)
      for f in pipeline_config.settable_fields('run')})
  assert (config.min_auc, config.max_auc_regression, config.tuner_trials,
          config.tune, config.model_name, config.hash_buckets_eval,
          config.eval_steps) == (0.7, 0.02, 5, False, 'm2', 2, 7)
  assert config.rows == pipeline_config.PipelineConfig().rows  # untouched
  for field in pipeline_config.settable_fields('run'):
    option = pipeline_config.option(field.name)
    assert any(option in action.option_strings
               for sub in parser._subparsers._group_actions  # pylint: disable=protected-access
               for action in sub.choices['run']._actions), option  # pylint: disable=protected-access
  assert not hasattr(args, 'code_fingerprint')


def test_a_file_sets_values_and_the_command_line_wins(tmp_path):
  path = tmp_path / 'settings.json'
  path.write_text(json.dumps({'min_auc': 0.6, 'rows': 3000, 'tune': False}))
  config = pipeline_config.build(pipeline_config.read_file(str(path)),
                                 {'rows': 5000, 'min_auc': None})
  assert (config.min_auc, config.rows, config.tune) == (0.6, 5000, False)
  # An int where a float is expected is the same number.
  assert pipeline_config.build({'min_auc': 1}).min_auc == 1.0


@pytest.mark.parametrize('values, message', [
    ({'rows': 0}, '--rows must be at least 1, not 0'),
    ({'train_steps': -5}, '--train-steps must be 0 (by size) or more, not -5'),
    ({'tuner_halving': 0}, '--tuner-halving must be at least 1, not 0'),
    ({'train_epochs': 0.0}, '--train-epochs must be above 0 and at most 1000, not 0.0'),
    ({'min_auc': 1.5}, '--min-auc must be between 0 and 1, not 1.5'),
    ({'model_name': 'a/b'}, '--model-name must be letters'),
    ({'min_auk': 0.7}, "unknown setting 'min_auk' in the config file"),
    ({'rows': '5000'}, "setting 'rows' must be int, not '5000'"),
    ({'tune': 1}, "setting 'tune' must be bool, not 1"),
])
def test_settings_that_cannot_work_are_refused(values, message):
  with pytest.raises(pipeline_config.ConfigError) as error:
    pipeline_config.build(values)
  assert str(error.value).startswith(message)


def test_unreadable_config_files(tmp_path):
  with pytest.raises(pipeline_config.ConfigError, match='cannot read'):
    pipeline_config.read_file(str(tmp_path / 'missing.json'))
  (tmp_path / 'bad.json').write_text('{"rows": ')
  with pytest.raises(pipeline_config.ConfigError, match='is not JSON'):
    pipeline_config.read_file(str(tmp_path / 'bad.json'))
  (tmp_path / 'list.json').write_text('[1, 2]')
  with pytest.raises(pipeline_config.ConfigError, match='one JSON object'):
    pipeline_config.read_file(str(tmp_path / 'list.json'))


def test_beam_workers_by_size_unless_given():
  import os  # pylint: disable=g-import-not-at-top
  auto = pipeline_config.PipelineConfig()
  assert auto.beam_workers == 0
  assert auto.workers_for(15_000) == 1            # in-process pays here
  assert auto.workers_for(75_000) == 1
  assert auto.workers_for(75_001) == (os.cpu_count() or 1)
  assert pipeline_config.PipelineConfig(beam_workers=3).workers_for(10) == 3
  assert pipeline_config.PipelineConfig(
      beam_in_process_max_rows=0).workers_for(1) == (os.cpu_count() or 1)


def test_train_steps_by_size_are_epochs_over_the_training_rows():
  config = pipeline_config.PipelineConfig()   # train_steps 0: by size
  # 500,000 rows, 4:1 split: 400,000 training rows, 2 epochs of 128-row batches.
  assert config.train_steps_for(500_000) == 6250
  assert config.train_steps_for(15_000) == config.min_train_steps == 1000
  sized = config.sized_for(500_000)
  assert (sized.train_steps, sized.tuner_steps, sized.train_rows) == (
      6250, 6250, 400_000)
  assert pipeline_config.PipelineConfig(train_steps=300).sized_for(500_000).train_steps == 300
  assert pipeline_config.PipelineConfig(tuner_steps=900).sized_for(15_000).tuner_steps == 900
  # Sized once by the runner from the rows it prepared, kept when the
  # pipeline definition sizes again from the generated rows' setting.
  assert sized.sized_for(15_000) == sized
