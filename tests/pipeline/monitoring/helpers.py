"""Served traffic for the monitor's and feedback's tests.

`serve_and_send` goes the way production traffic goes: the real model
server (serving.model_server, request logging on) serving the pushed model,
and the project's bulk client (`serving.client --complaints`) sending a CSV
in the CFPB export layout. `write_prediction_logs` writes the same records
directly, for the tests of the readers alone.
"""

import pathlib

from components import features


def export_rows(rows: int, seed: int, scenario=None, span: int = 5):
  """Generated complaints in the export layout (labels included)."""
  from data import generate  # pylint: disable=g-import-not-at-top
  export, _ = generate.generate(rows, seed, scenario=scenario, span=span)
  return export


def raw_rows(rows: int, seed: int, scenario=None, span: int = 5):
  """Generated complaints as the pipeline's raw features (plus the ID)."""
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  frame = cfpb_export.to_pipeline_frame(
      export_rows(rows, seed, scenario, span), include_label=False)
  return frame[features.RAW_FEATURES + [features.ID_KEY]].astype(str).to_dict(
      'records')


def serve_and_send(serving_dir: pathlib.Path, export, work: pathlib.Path,
                   model_name: str = 'complaints') -> pathlib.Path:
  """Sends export through the real server and the bulk client
  (serving.child_server.serve_and_score); returns the request logs' folder."""
  from serving import child_server  # pylint: disable=g-import-not-at-top
  work.mkdir(parents=True, exist_ok=True)
  csv = work / 'complaints.csv'
  export.to_csv(csv, index=False)
  summary = child_server.serve_and_score(str(serving_dir), str(csv),
                                         str(work), model_name)
  assert summary['sent'] == len(export) and summary['failed'] == 0, summary
  return pathlib.Path(summary['request_logs'])


def write_prediction_logs(model_dir: pathlib.Path, version: int, rows,
                          path: pathlib.Path, batch: int = 50) -> None:
  """PredictionLogs as TF Serving writes them: serving_default requests of
  serialized tf.Examples (the join key among their features) and the
  model's real responses."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(str(model_dir))
  predict = model.signatures[features.EXAMPLES_SIGNATURE]
  with tf.io.TFRecordWriter(str(path)) as writer:
    for start in range(0, len(rows), batch):
      examples = []
      for row in rows[start:start + batch]:
        example = tf.train.Example()
        for key, value in row.items():
          if value:
            example.features.feature[key].bytes_list.value.append(
                value.encode())
        examples.append(example.SerializeToString())
      outputs = predict(examples=tf.constant(examples))
      log = prediction_log_pb2.PredictionLog()
      spec = log.log_metadata.model_spec
      spec.name, spec.signature_name = 'complaints', features.EXAMPLES_SIGNATURE
      spec.version.value = version
      request = log.predict_log.request
      request.model_spec.CopyFrom(spec)
      request.inputs[features.EXAMPLES_INPUT].CopyFrom(
          tf.make_tensor_proto(examples, dtype=tf.string))
      log.predict_log.response.outputs[features.OUTPUT_KEY].CopyFrom(
          tf.make_tensor_proto(outputs[features.OUTPUT_KEY].numpy()))
      writer.write(log.SerializeToString())
