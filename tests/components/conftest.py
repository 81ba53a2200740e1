"""A real Transform output on 300 generated complaints, shared by the model's
and the Tuner's tests: the rows, the graph (TFTransformOutput) and the rows
written as TFRecords with the DataAccessor the Trainer and the Tuner get, so
both are tested on the same kind of artifact TFX hands them; and
test_transform's three rows through the same preprocessing_fn. Each is made
once for both xdist workers (tests/conftest.py made_once_pickled)."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import metadata_io

from components import features
from components import transform
from data import cfpb_export
from data import generate
from tests.conftest import made_once_pickled

ROWS = 300


@pytest.fixture(scope='session')
def raw_rows():
  export, _ = generate.generate(ROWS, seed=3)
  frame = cfpb_export.to_pipeline_frame(export, include_label=True)
  return [{key: (row[key].encode() if key != features.LABEL_KEY
                 else int(row[key]))
           for key in features.RAW_FEATURES + [features.LABEL_KEY]}
          for row in frame.to_dict('records')]


def analyze_and_transform(preprocessing_fn, rows, feature_spec, work):
  """(transformed rows, Transform's output folder work/transform_output):
  a real tft_beam analysis of rows, the raw schema written next to the
  graph as Transform writes it."""
  metadata = dataset_metadata.DatasetMetadata.from_feature_spec(feature_spec)
  out = os.path.join(str(work), 'transform_output')
  with tft_beam.Context(temp_dir=os.path.join(str(work), 'tft')):
    (data, _), transform_fn = ((rows, metadata)
                               | tft_beam.AnalyzeAndTransformDataset(
                                   preprocessing_fn))
    _ = transform_fn | tft_beam.WriteTransformFn(out)
  metadata_io.write_metadata(metadata, os.path.join(
      out, tft.TFTransformOutput.RAW_METADATA_DIR))
  return data, out


@pytest.fixture(scope='session')
def transform_run(raw_rows, request, tmp_path_factory):
  """(transformed rows, Transform's output folder): a real tft_beam analysis,
  made once for both xdist workers (test_model's and test_tuner's files)."""
  spec = {key: tf.io.FixedLenFeature([], tf.string)
          for key in features.RAW_FEATURES}
  spec[features.LABEL_KEY] = tf.io.FixedLenFeature([], tf.int64)
  return made_once_pickled(
      request, tmp_path_factory, f'transform_{ROWS}_rows',
      lambda work: analyze_and_transform(transform.preprocessing_fn,
                                         raw_rows, spec, work))


@pytest.fixture(scope='session')
def three_rows_transformed(request, tmp_path_factory):
  """(transformed rows, TFTransformOutput) of test_transform's three rows
  through components.transform.preprocessing_fn: what test_transform checks
  by hand and test_transform_by_kind compares the spec's function with;
  made once for both xdist workers."""
  from tests.components import test_transform  # pylint: disable=g-import-not-at-top
  data, out = made_once_pickled(
      request, tmp_path_factory, 'transform_three_rows',
      lambda work: analyze_and_transform(
          transform.preprocessing_fn, test_transform.raw_rows(),
          test_transform.raw_feature_spec(), work))
  return data, tft.TFTransformOutput(out)


@pytest.fixture(scope='session')
def transformed(transform_run):
  """(transformed rows, TFTransformOutput)."""
  data, out = transform_run
  return data, tft.TFTransformOutput(out)


@pytest.fixture(scope='session')
def transformed_files(transformed, tmp_path_factory):
  """(TFRecord file of the transformed rows, TFX's DataAccessor for it)."""
  rows, tf_transform_output = transformed
  path = str(tmp_path_factory.mktemp('transformed_examples') /
             'examples.tfrecord')
  feature_spec = tf_transform_output.transformed_feature_spec()
  with tf.io.TFRecordWriter(path) as writer:
    for row in rows:
      example = tf.train.Example()
      for key, spec in feature_spec.items():
        values = np.atleast_1d(row[key]).tolist()
        if spec.dtype == tf.int64:
          example.features.feature[key].int64_list.value.extend(values)
        else:
          example.features.feature[key].float_list.value.extend(values)
      writer.write(example.SerializeToString())
  from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top
  accessor = fn_args_utils.DataAccessor(
      tf_dataset_factory=_tf_dataset_factory, record_batch_factory=None,
      data_view_decode_fn=None)
  return path, accessor


def _tf_dataset_factory(file_pattern, options, schema):
  """TFX's TFRecord dataset factory, as the Trainer's DataAccessor gives it."""
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  return tf_example_record.TFExampleRecord(
      file_pattern=file_pattern, schema=schema,
      telemetry_descriptors=['test']).TensorFlowDataset(options)
