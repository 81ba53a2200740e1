"""serving.servable: signature runs and the input checks made per request.

The checks and the tensor conversion are precomputed per signature (they
were ~0.35 ms of every request on the pipeline model); these tests pin that
the fast path accepts and refuses exactly what TensorShape and
tf.convert_to_tensor would, and computes what the signature computes.
"""

import numpy as np
import pytest

import serving  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)
import tensorflow as tf

from serving import servable as servable_lib
from serving import status


class _Mixed(tf.Module):
  """Inputs of every shape kind: fixed inner dim, vector, unknown rank."""

  @tf.function(input_signature=[
      tf.TensorSpec([None, 3], tf.float32, name='x'),
      tf.TensorSpec([None], tf.string, name='s'),
      tf.TensorSpec(None, tf.int64, name='n')])
  def serve(self, x, s, n):
    return {'total': tf.reduce_sum(x, axis=1) + tf.cast(
        tf.reduce_sum(n), tf.float32),
            'length': tf.strings.length(s)}


@pytest.fixture(scope='module')
def mixed(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('mixed') / '1')
  module = _Mixed()
  tf.saved_model.save(module, path, signatures={'serving_default':
                                                module.serve})
  model = servable_lib.Servable('mixed', 1, path)
  model.load()
  return model, tf.saved_model.load(path)


def _inputs(rows=2):
  return {'x': np.arange(3 * rows, dtype=np.float32).reshape(rows, 3),
          's': np.array([b'ab', 'caf\u00e9'.encode()] * (rows // 2),
                        dtype=object),
          'n': np.array([[1, 2], [3, 4]], dtype=np.int64)}


def test_run_matches_the_signature_called_by_tensorflow(mixed):
  model, loaded = mixed
  inputs = _inputs()
  got = model.predict('serving_default', inputs)
  want = loaded.signatures['serving_default'](
      **{k: tf.constant(v) for k, v in inputs.items()})
  assert set(got) == {'total', 'length'}
  np.testing.assert_array_equal(got['total'], want['total'].numpy())
  np.testing.assert_array_equal(got['length'], want['length'].numpy())
  # And by hand: rows 0+1+2 + (1+2+3+4), 3+4+5 + 10; byte lengths.
  np.testing.assert_array_equal(got['total'], [13.0, 22.0])
  np.testing.assert_array_equal(got['length'], [2, 5])


def test_unknown_rank_input_accepts_any_shape(mixed):
  model, _ = mixed
  for n in (np.array(7, dtype=np.int64), np.zeros((2, 2, 2), np.int64)):
    inputs = dict(_inputs(), n=n)
    assert model.predict('serving_default', inputs)['total'].shape == (2,)


@pytest.mark.parametrize('name,value,message', [
    ('x', np.zeros((2, 4), np.float32),
     "Input 'x' has shape [2, 4], which is not compatible with the "
     'signature shape [?,3]'),
    ('x', np.zeros((2,), np.float32),
     "Input 'x' has shape [2], which is not compatible with the signature "
     'shape [?,3]'),
    ('s', np.array([[b'a']], dtype=object),
     "Input 's' has shape [1, 1], which is not compatible with the "
     'signature shape [?]'),
    ('x', np.zeros((2, 3), np.float64),
     'Expects arg[2] to be float but double is provided'),
    ('n', np.array([b'1'], dtype=object),
     'Expects arg[0] to be int64 but string is provided'),
])
def test_bad_inputs_are_refused_with_tensorflows_message(mixed, name, value,
                                                         message):
  model, _ = mixed
  inputs = dict(_inputs(), **{name: value})
  with pytest.raises(status.ServingError) as error:
    model.predict('serving_default', inputs)
  assert error.value.code == status.INVALID_ARGUMENT
  assert error.value.message == message


def test_shape_check_agrees_with_tensorshape():
  shapes = [None, [], [None], [3], [None, 3], [2, None, 4]]
  values = [(), (3,), (2,), (2, 3), (5, 3), (2, 7, 4), (2, 7, 5), (1, 1, 1)]
  for spec in shapes:
    pattern = servable_lib._shape_pattern(tf.TensorShape(spec))  # pylint: disable=protected-access
    for shape in values:
      assert servable_lib._shape_fits(pattern, shape) == (  # pylint: disable=protected-access
          tf.TensorShape(spec).is_compatible_with(shape)), (spec, shape)
