"""Where a request's time goes, stage by stage, on the pipeline's model.

`python -m benchmarks.profile_serving [--serving_dir DIR]` loads the model
the way bench_serving finds it, builds the same real-complaint requests,
and times each stage of the server's request path in-process (median of
`--calls` calls, cycling through the requests): JSON decode, JSON to
tensors, the input checks, numpy to eager tensors, the graph, outputs back
to numpy and the response encoding for REST; proto decode, TensorProto to
numpy, the same model stages and the response proto for gRPC; then the
whole handler (RestApi.handle / PredictionService.Predict). What the
handler costs beyond the stages' sum is the rest of the Python work.
Transport (HTTP, gRPC) is not in these figures: bench_serving's status-call
floor measures it. Results: benchmarks/results/serving_profile.json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

from benchmarks import result_file
from benchmarks import serving_model
from benchmarks import serving_requests

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'serving_profile.json')


def median_ms(fn: Callable[[int], object], calls: int) -> float:
  for i in range(min(30, calls)):
    fn(i)
  times = []
  for i in range(calls):
    start = time.perf_counter()
    fn(i)
    times.append(time.perf_counter() - start)
  return round(statistics.median(times) * 1e3, 4)


class _Context:
  """The two grpc.ServicerContext methods PredictionService uses."""

  def time_remaining(self):
    return None

  def abort(self, code, details):
    raise RuntimeError(f'{code}: {details}')


def profile(base_path: str, model_name: str, batch: int,
            calls: int) -> Dict[str, Dict[str, float]]:
  """Stage medians (ms) for REST and gRPC at `batch` complaints a request."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from components import features  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  from serving import child_server, grpc_api, inference, json_output  # pylint: disable=g-import-not-at-top
  from serving import json_tensor, model_server, server_config, tensor_proto  # pylint: disable=g-import-not-at-top
  options = server_config.ServerOptions(
      port=child_server.free_port(), rest_api_port=child_server.free_port(),
      bind_address='127.0.0.1', model_name=model_name,
      model_base_path=base_path, file_system_poll_wait_seconds=0)
  server = model_server.ModelServer(options).start()
  try:
    requests = serving_requests.batches(serving_requests.real_rows(), batch)
    bodies = [serving_requests.rest_body(r) for r in requests]
    wire = [serving_requests.grpc_request(r, model_name) for r in requests]
    protos = [predict_pb2.PredictRequest.FromString(w) for w in wire]
    servable = server.core.servable(protos[0].model_spec)
    api = server.rest_server._server.api  # pylint: disable=protected-access
    service = grpc_api.PredictionService(server.core, server.metrics)
    n = len(requests)
    out: Dict[str, Dict[str, float]] = {}
    for protocol, signature in (('rest', features.RAW_SIGNATURE),
                                ('grpc', features.EXAMPLES_SIGNATURE)):
      runner = servable.runner(signature)
      infos = {k: v.dtype for k, v in
               servable.signature_defs[signature].inputs.items()}
      if protocol == 'rest':
        docs = [json_tensor.parse_json(b) for b in bodies]
        inputs = [json_tensor.predict_inputs(d, infos)[0] for d in docs]
      else:
        inputs = [{a: inference.tensor_to_ndarray(a, p) for a, p in
                   q.inputs.items()} for q in protos]
      tensors = [runner._tensors(x) for x in inputs]  # pylint: disable=protected-access
      function = runner._function  # pylint: disable=protected-access
      raw_outputs = [function._call_flat(t, function.captured_inputs)  # pylint: disable=protected-access
                     for t in tensors]
      outputs = [{k: v.numpy() for k, v in o.items()} for o in raw_outputs]
      stages = {}
      if protocol == 'rest':
        stages['json_decode'] = median_ms(
            lambda i: json_tensor.parse_json(bodies[i % n]), calls)
        stages['json_to_numpy'] = median_ms(
            lambda i: json_tensor.predict_inputs(docs[i % n], infos), calls)
      else:
        stages['proto_decode'] = median_ms(
            lambda i: predict_pb2.PredictRequest.FromString(wire[i % n]),
            calls)
        stages['tensor_proto_to_numpy'] = median_ms(
            lambda i: {a: inference.tensor_to_ndarray(a, p) for a, p in
                       protos[i % n].inputs.items()}, calls)
      stages['input_checks'] = median_ms(
          lambda i: runner.check_inputs(inputs[i % n]), calls)
      stages['numpy_to_eager_tensors'] = median_ms(
          lambda i: runner._tensors(inputs[i % n]), calls)  # pylint: disable=protected-access
      stages['graph'] = median_ms(
          lambda i: function._call_flat(tensors[i % n],  # pylint: disable=protected-access
                                        function.captured_inputs), calls)
      stages['outputs_to_numpy'] = median_ms(
          lambda i: {k: v.numpy() for k, v in raw_outputs[i % n].items()},
          calls)
      if protocol == 'rest':
        stages['json_encode'] = median_ms(
            lambda i: json_output.predictions(outputs[i % n],
                                              json_tensor.ROW), calls)
        stages['whole_handler'] = median_ms(
            lambda i: api.handle('POST', f'/v1/models/{model_name}:predict',
                                 bodies[i % n]), calls)
      else:
        def respond(i):
          response = predict_pb2.PredictResponse()
          inference.fill_model_spec(response.model_spec, model_name,
                                    servable.version, signature)
          for alias, value in outputs[i % n].items():
            response.outputs[alias].CopyFrom(
                tensor_proto.to_proto(value))
          return response.SerializeToString()
        stages['response_proto'] = median_ms(respond, calls)
        context = _Context()
        stages['whole_handler'] = median_ms(
            lambda i: service.Predict(protos[i % n], context), calls)
      parts = sum(v for k, v in stages.items() if k != 'whole_handler')
      stages['handler_minus_stages'] = round(stages['whole_handler'] - parts,
                                             4)
      out[protocol] = stages
    del np
    return out
  finally:
    server.stop()


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.profile_serving',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--serving_dir')
  parser.add_argument('--model_name', default='complaints')
  parser.add_argument('--calls', type=int, default=500)
  parser.add_argument('--output', default=RESULTS)
  args = parser.parse_args(argv)
  if args.calls < 1:
    parser.error('--calls must be positive')
  scratch = tempfile.mkdtemp(prefix='profile_serving_')
  try:
    model = serving_model.resolve(args.serving_dir, args.model_name, scratch)
  except serving_model.ModelNotFound as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  results = {'command': 'python -m benchmarks.profile_serving ' + ' '.join(
      sys.argv[1:] if argv is None else argv),
             'model': {'source': model['source'],
                       'version': model['version']},
             'calls_per_stage': args.calls, 'unit': 'ms, median per call',
             'batch_1': profile(model['base_path'], args.model_name, 1,
                                args.calls),
             'batch_32': profile(model['base_path'], args.model_name, 32,
                                 max(1, args.calls // 5))}
  print(json.dumps(results, indent=2))
  result_file.write(args.output, results)
  return 0


if __name__ == '__main__':
  sys.exit(main())
