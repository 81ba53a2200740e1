"""get_model trains, the export's two signatures agree, the history is recorded.

A real Transform graph made with tft_beam on 300 generated complaints
(conftest.py), so the exported model is the kind of artifact the Trainer
writes.
"""

import json
import os
import math
import types

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components import model as model_lib
from components import signatures


def _batch(rows):
  """Transformed rows as the model's input tensors and the label."""
  inputs = {features.CATEGORICAL_XF: np.array(
      [r[features.CATEGORICAL_XF] for r in rows], dtype=np.int64)}
  text = features.transformed_name(features.TEXT_FEATURE)
  ids = [np.asarray(r[text], dtype=np.int64).tolist() for r in rows]
  inputs[text] = tf.SparseTensor(  # variable-length rows, as Transform emits
      indices=np.array([[i, j] for i, row in enumerate(ids)
                        for j in range(len(row))], np.int64).reshape(-1, 2),
      values=np.array([v for row in ids for v in row], np.int64),
      dense_shape=[len(ids), max(len(row) for row in ids)])
  label = np.array([[r[features.LABEL_KEY]] for r in rows], dtype=np.float32)
  return inputs, label


def test_get_model_output_bias_starts_at_the_base_rate():
  model = model_lib.get_model(model_lib.DEFAULT_HPARAMS, label_rate=0.2)
  bias = model.get_layer(model_lib.BIAS_LAYER).bias.numpy()
  assert float(tf.sigmoid(bias[0])) == pytest.approx(0.2, abs=1e-6)
  assert set(model.input) == {
      features.CATEGORICAL_XF, features.transformed_name(features.TEXT_FEATURE)}


@pytest.mark.parametrize('hidden_units', [0, 16])  # wide only; wide & deep
def test_get_model_trains_and_loss_goes_down(transformed, hidden_units):
  rows, _ = transformed
  inputs, label = _batch(rows)
  tf.keras.utils.set_random_seed(1)
  model = model_lib.get_model({**model_lib.DEFAULT_HPARAMS,
                               'hidden_units': hidden_units,
                               'learning_rate': 1e-2}, float(label.mean()))
  assert (model.get_layer('deep') is not None) if hidden_units else all(
      layer.name != 'deep' for layer in model.layers)
  history = model.fit(inputs, label, epochs=8, batch_size=64, verbose=0)
  losses = history.history['loss']
  assert all(np.isfinite(losses))
  assert losses[-1] < losses[0]


def test_export_signatures_agree_and_write_warmup(transformed, raw_rows,
                                                  tmp_path):
  rows, tf_transform_output = transformed
  inputs, label = _batch(rows)
  model = model_lib.get_model(model_lib.DEFAULT_HPARAMS, float(label.mean()))
  model.fit(inputs, label, epochs=1, batch_size=64, verbose=0)
  export_dir = str(tmp_path / '1')
  signatures.export(model, tf_transform_output, export_dir)
  assert os.path.getsize(os.path.join(export_dir, signatures.WARMUP_FILE)) > 0
  # The warm-up covers both signatures, at 1 and 2 rows, and each request
  # runs on the exported model as TF Serving would replay it (on the one
  # model it loaded).
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(export_dir)
  replayed = []
  for record in tf.data.TFRecordDataset(os.path.join(export_dir,
                                                     signatures.WARMUP_FILE)):
    request = prediction_log_pb2.PredictionLog.FromString(
        record.numpy()).predict_log.request
    name = request.model_spec.signature_name
    out = loaded.signatures[name](**{
        key: tf.constant(tf.make_ndarray(value))
        for key, value in request.inputs.items()})
    replayed.append((name, out[signatures.OUTPUT_KEY].shape[0]))
  assert sorted(replayed) == sorted([
      (features.EXAMPLES_SIGNATURE, 1), (features.RAW_SIGNATURE, 1),
      (features.EXAMPLES_SIGNATURE, 2), (features.RAW_SIGNATURE, 2)])

  complaints = [{key: raw_rows[i][key].decode()
                 for key in features.RAW_FEATURES} for i in range(5)]
  complaints.append({'product': 'Mortgage'})  # a client leaving fields out
  by_example = loaded.signatures['serving_default'](examples=tf.constant(
      [signatures.example_from_fields(c).SerializeToString()
       for c in complaints]))[signatures.OUTPUT_KEY].numpy().ravel()
  by_raw = loaded.signatures['predict_raw'](**{
      key: tf.constant([c.get(key, '') for c in complaints])
      for key in features.RAW_FEATURES})[signatures.OUTPUT_KEY].numpy().ravel()
  in_process = model.predict(_batch(rows[:5])[0], verbose=0).ravel()
  assert np.all((by_example > 0) & (by_example < 1))
  np.testing.assert_allclose(by_example, by_raw, atol=1e-6)
  # The serving graph applies the same Transform as training did: no skew.
  np.testing.assert_allclose(by_example[:5], in_process, atol=1e-5)


def test_write_history_records_the_curve_and_settings(tmp_path):
  path = model_lib.write_history(
      str(tmp_path / 'run'), {'loss': [0.6, np.float32(0.5)],
                              'val_auc': [0.61, 0.66]},
      {'learning_rate': 0.003, 'hidden_units': 64}, 0.2, steps_per_epoch=40)
  record = json.loads(open(path).read())
  assert os.path.basename(path) == model_lib.HISTORY_FILE
  assert record['epochs'] == 2
  assert record['history']['loss'] == pytest.approx([0.6, 0.5])
  assert record['hyperparameters']['hidden_units'] == 64
  assert record['steps_per_epoch'] == 40


def test_train_splits_steps_into_epochs_and_writes_history(transformed,
                                                           transformed_files,
                                                           tmp_path):
  """train() as the Trainer calls it, on Transform's real output files."""
  _, tf_transform_output = transformed
  files, accessor = transformed_files
  fn_args = types.SimpleNamespace(
      train_files=[files], eval_files=[files], data_accessor=accessor,
      train_steps=20, eval_steps=10, model_run_dir=str(tmp_path / 'run'),
      custom_config={'seed': 5})
  model_lib.train(fn_args, tf_transform_output, model_lib.DEFAULT_HPARAMS)
  record = json.loads(open(tmp_path / 'run' / model_lib.HISTORY_FILE).read())
  assert record['epochs'] == model_lib.EPOCHS
  assert record['steps_per_epoch'] == 20 // model_lib.EPOCHS
  assert len(record['history']['val_loss']) == model_lib.EPOCHS


def test_train_is_the_same_in_every_run(transformed, transformed_files,
                                        tmp_path):
  """Two Trainer runs after different global seeds end at the same
  weights: the seed fixes the init and TFX's shuffled data order (the label
  rate is estimated on a dataset of its own, so fit's pass is the first)."""
  _, tf_transform_output = transformed
  files, accessor = transformed_files

  def trained(folder, seed_before):
    tf.keras.utils.set_random_seed(seed_before)  # whatever ran before
    fn_args = types.SimpleNamespace(
        train_files=[files], eval_files=[files], data_accessor=accessor,
        train_steps=20, eval_steps=2, model_run_dir=str(folder),
        custom_config={'seed': 5})
    return model_lib.train(fn_args, tf_transform_output,
                           model_lib.DEFAULT_HPARAMS).get_weights()

  first = trained(tmp_path / 'a', seed_before=999)
  again = trained(tmp_path / 'b', seed_before=123)
  assert len(first) == len(again)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)


def test_train_by_size_stops_early_on_held_out_training_rows(
    transformed, transformed_files, tmp_path):
  """With the steps chosen by size the Trainer trains pass by pass on the
  training rows minus a held-out share and stops once their loss stops
  improving; on this few rows it then fits a model again on every row for
  the best number of passes, and that is the model it returns."""
  from components import early_stopping  # pylint: disable=g-import-not-at-top
  _, tf_transform_output = transformed
  files, accessor = transformed_files
  rows = sum(int(tf.shape(y)[0]) for _, y in model_lib.make_dataset(
      [files], accessor, tf_transform_output, once=True))
  assert rows <= early_stopping.REFIT_MAX_ROWS
  fn_args = types.SimpleNamespace(
      train_files=[files], eval_files=[files], data_accessor=accessor,
      train_steps=1000, eval_steps=10, model_run_dir=str(tmp_path / 'run'),
      custom_config={'seed': 5, 'early_stopping': True, 'train_rows': rows})
  model = model_lib.train(fn_args, tf_transform_output,
                          dict(model_lib.DEFAULT_HPARAMS, learning_rate=0.05))
  record = json.loads(open(tmp_path / 'run' / model_lib.HISTORY_FILE).read())
  every = round(1 / early_stopping.VALIDATION_SHARE)
  held_out = len(range(0, rows, every))   # rows 0, k, 2k, ...
  assert record['steps_per_epoch'] == math.ceil((rows - held_out) /
                                                features.BATCH_SIZE)
  losses = record['history']['val_loss']
  assert len(losses) < early_stopping.MAX_PASSES   # it stopped early
  best = int(np.argmin(losses))
  assert len(losses) == best + 1 + early_stopping.PATIENCE
  # The refit: every row, the best pass count, a loss per pass.
  assert record['refit']['passes'] == best + 1
  assert record['refit']['rows'] == rows
  assert record['refit']['steps_per_pass'] == math.ceil(
      rows / features.BATCH_SIZE)
  assert len(record['refit']['loss']) == best + 1
  _, held_out_rows = early_stopping.holdout_split(
      model_lib.make_dataset([files], accessor, tf_transform_output,
                             once=True, shuffle=False), 5, features.BATCH_SIZE)
  # Not the early-stopped model (whose held-out loss is the curve's
  # minimum): the refit one, which trained on the held-out rows too.
  returned = model.evaluate(held_out_rows, verbose=0,
                            return_dict=True)['loss']
  assert returned != pytest.approx(losses[best], rel=1e-3)


def test_early_stopping_keeps_the_best_pass_weights(
    transformed, transformed_files):
  """fit restores the weights of the pass with the lowest held-out loss:
  the held-out loss of the model it leaves is the curve's minimum."""
  from components import early_stopping  # pylint: disable=g-import-not-at-top
  _, tf_transform_output = transformed
  files, accessor = transformed_files

  def one_pass():
    return model_lib.make_dataset([files], accessor, tf_transform_output,
                                  once=True, shuffle=False)
  rows = sum(int(tf.shape(y)[0]) for _, y in one_pass())
  tf.keras.utils.set_random_seed(5)
  data = one_pass()
  model = model_lib.get_model(
      dict(model_lib.DEFAULT_HPARAMS, learning_rate=0.05))
  history, _ = early_stopping.fit(model, data, rows, 5, features.BATCH_SIZE)
  losses = history.history['val_loss']
  assert len(losses) < early_stopping.MAX_PASSES
  _, held_out = early_stopping.holdout_split(one_pass(), 5,
                                             features.BATCH_SIZE)
  restored = model.evaluate(held_out, verbose=0, return_dict=True)['loss']
  assert restored == pytest.approx(min(losses), rel=1e-4)
