"""Server-side batching: TF Serving's parameters and semantics.

Batches are made to close only when full (a batch timeout far longer than
any test), so which requests are merged does not depend on how fast the
machine starts them: the number and size of the model calls are exact.
"""

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving_helpers import call, deploy, wait_for
from serving import batching
from serving import prometheus
from serving import status


def make_scheduler(**kwargs):
  return batching.BatchScheduler(batching.BatchingOptions(**kwargs),
                                 prometheus.Metrics())


# Longer than any test runs: a batch is processed only once it is full.
_NEVER_MICROS = 600 * 10**6


def test_concurrent_tasks_are_merged_and_split_back():
  calls = []

  def run(inputs):
    calls.append(inputs['x'].tolist())
    return {'y': inputs['x'] * 2}

  scheduler = make_scheduler(max_batch_size=8,
                             batch_timeout_micros=_NEVER_MICROS,
                             num_batch_threads=1)
  results = {}

  def worker(i):
    results[i] = scheduler.run(('m',), run, {'x': np.array([i, i], np.int64)})

  threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  scheduler.stop()  # Fails whatever is still waiting (UNAVAILABLE).
  # Eight tasks of 2 rows: exactly two full batches of 8 rows, made of
  # whole tasks, and every task got its own rows back.
  assert [len(rows) for rows in calls] == [8, 8], calls
  assert sorted(calls[0] + calls[1]) == [i for i in range(8) for _ in '..']
  assert all(rows[k] == rows[k + 1] for rows in calls for k in (0, 2, 4, 6))
  assert {i: results[i]['y'].tolist() for i in range(8)} == {
      i: [2 * i, 2 * i] for i in range(8)}


def test_padding_to_allowed_batch_sizes():
  sizes = []

  def run(inputs):
    sizes.append(len(inputs['x']))
    return {'y': inputs['x'] + 1}

  scheduler = make_scheduler(max_batch_size=4, allowed_batch_sizes=(2, 4),
                             num_batch_threads=1)
  out = scheduler.run(('m',), run, {'x': np.array([5.0])})
  scheduler.stop()
  assert out['y'].tolist() == [6.0] and sizes == [2]


def test_errors():
  scheduler = make_scheduler(max_batch_size=2, num_batch_threads=1)
  with pytest.raises(status.ServingError) as info:
    scheduler.run(('m',), None, {'x': np.zeros(3)})
  assert info.value.message == (
      'Task size 3 is larger than maximum input batch size 2')
  with pytest.raises(status.ServingError) as info:
    scheduler.run(('m',), None, {'x': np.zeros(1), 'z': np.zeros(2)})
  assert info.value.message == ('Batching Run() input tensors must have '
                                'equal 0th-dimension size')

  def fail(inputs):
    raise status.invalid_argument('boom')

  with pytest.raises(status.ServingError) as info:
    scheduler.run(('m',), fail, {'x': np.zeros(1)})
  assert info.value.message == 'boom'
  scheduler.stop()
  with pytest.raises(status.ServingError) as info:
    scheduler.run(('m',), fail, {'x': np.zeros(1)})
  assert info.value.code == status.UNAVAILABLE


def test_full_queue_is_unavailable_not_unbounded():
  running, release = threading.Event(), threading.Event()

  def slow(inputs):
    running.set()
    release.wait(10)
    return {'y': inputs['x']}

  scheduler = make_scheduler(max_batch_size=1, max_enqueued_batches=1,
                             num_batch_threads=1)

  def submit():
    scheduler.run(('m',), slow, {'x': np.zeros(1)})

  first = threading.Thread(target=submit)
  first.start()
  assert running.wait(10)  # The only batch thread is now busy.
  second = threading.Thread(target=submit)
  second.start()
  wait_for(lambda: any(q.closed for q in list(scheduler._queues.values())),  # pylint: disable=protected-access
           timeout=60)
  # One batch running, one waiting: the queue is full.
  with pytest.raises(status.ServingError) as info:
    scheduler.run(('m',), slow, {'x': np.zeros(1)})
  assert info.value.code == status.UNAVAILABLE
  assert info.value.message == ('The batch scheduling queue to which this '
                                'task was submitted is full')
  release.set()
  first.join()
  second.join()
  scheduler.stop()


def test_server_with_batching(models, tmp_path, start_server):
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  params = tmp_path / 'batching.config'
  params.write_text('max_batch_size { value: 4 } '
                    f'batch_timeout_micros {{ value: {_NEVER_MICROS} }} '
                    'num_batch_threads { value: 1 }')
  # Warmup runs through the batcher too, and one row would wait for a full
  # batch; this test is about merging requests, so it is off.
  server = start_server(model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
                        file_system_poll_wait_seconds=0, enable_batching=True,
                        batching_parameters_file=str(params),
                        enable_model_warmup=False)
  assert server.metrics.wrapped_run_count.value() == 0
  results = {}

  def worker(i):
    results[i] = call(server.rest_port, 'POST', '/v1/models/hpt:predict',
                      {'instances': [float(i)]})

  threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  assert {i: results.get(i) for i in range(12)} == {
      i: (200, {'predictions': [0.5 * i + 2]}) for i in range(12)}
  # Twelve one-row requests, batches of 4 that close only when full:
  # exactly three model calls, every request waited in a queue.
  assert server.metrics.wrapped_run_count.value() == 3


def test_checks_once_per_batch_and_errors_reach_only_their_request():
  # On the event loop the inputs are checked once per batch; a batch that
  # fails the check is checked request by request, so only the bad one
  # fails and the others run (as one batch).
  scheduler = make_scheduler(max_batch_size=3,
                             batch_timeout_micros=_NEVER_MICROS,
                             num_batch_threads=1)
  checked, runs = [], []

  def check(inputs):
    checked.append(inputs['x'].tolist())
    if -1.0 in inputs['x']:
      raise status.invalid_argument('no -1 here')

  def run(inputs):
    runs.append(inputs['x'].tolist())
    return {'y': inputs['x'] * 2}

  async def three():
    return await asyncio.gather(*[
        scheduler.run_async(('k',), run, {'x': np.array([value])},
                            check_fn=check)
        for value in (1.0, -1.0, 3.0)], return_exceptions=True)

  results = asyncio.run(three())
  scheduler.stop()
  assert results[0]['y'].tolist() == [2.0]
  assert isinstance(results[1], status.ServingError)
  assert results[1].message == 'no -1 here'
  assert results[2]['y'].tolist() == [6.0]
  assert checked == [[1.0, -1.0, 3.0], [1.0], [-1.0], [3.0]]
  assert runs == [[1.0, 3.0]]

  good = make_scheduler(max_batch_size=2, batch_timeout_micros=_NEVER_MICROS,
                        num_batch_threads=1)
  checked.clear()

  async def two():
    return await asyncio.gather(*[
        good.run_async(('k',), run, {'x': np.array([value])}, check_fn=check)
        for value in (1.0, 2.0)])

  assert [r['y'].tolist() for r in asyncio.run(two())] == [[2.0], [4.0]]
  good.stop()
  assert checked == [[1.0, 2.0]]  # One check for the batch.


def test_requests_of_one_loop_round_make_one_batch_at_timeout_zero():
  # batch_timeout_micros 0: a free batch thread takes a batch at once. The
  # requests an event loop starts in one round still make one batch: it is
  # held until the round ends (before, the idle thread took the first
  # request alone as soon as it was enqueued).
  scheduler = make_scheduler(max_batch_size=100, batch_timeout_micros=0,
                             num_batch_threads=2)
  runs = []

  def run(inputs):
    runs.append(inputs['x'].tolist())
    return {'y': inputs['x'] * 2}

  async def one(value):
    if value == 1:
      # The loop is busy for a while within the round (time enough for an
      # idle batch thread to take request 0 alone, were it not held).
      time.sleep(0.2)  # noqa: ASYNC251  (blocking the loop is the point)
    return await scheduler.run_async(('k',), run,
                                     {'x': np.array([float(value)])})

  async def eight():
    return await asyncio.gather(*[one(value) for value in range(8)])

  results = asyncio.run(eight())
  # Then a request alone in its round: a batch of one, not kept waiting.
  alone = asyncio.run(scheduler.run_async(('k',), run,
                                          {'x': np.array([9.0])}))
  scheduler.stop()
  assert [r['y'].tolist() for r in results] == [[2.0 * v] for v in range(8)]
  assert alone['y'].tolist() == [18.0]
  assert runs == [[float(v) for v in range(8)], [9.0]]


def test_a_round_is_split_by_the_requests_in_flight_so_the_graph_starts():
  # After a round of 8 requests (8 in flight at its end), each of 2 batch
  # threads gets its share, 4: the graph starts on the first 4 of the next
  # round of 8 while the loop is still starting the other 4.
  scheduler = make_scheduler(max_batch_size=100, batch_timeout_micros=0,
                             num_batch_threads=2)
  runs = []
  first_half_ran = threading.Event()

  def run(inputs):
    runs.append(inputs['x'].tolist())
    if inputs['x'].tolist() == [8.0, 9.0, 10.0, 11.0]:
      first_half_ran.set()
    return {'y': inputs['x'] * 2}

  ran_within_round = []

  async def one(value):
    if value == 12:  # Request 5 of the second round, still in the round.
      ran_within_round.append(first_half_ran.wait(60))
    return await scheduler.run_async(('k',), run,
                                     {'x': np.array([float(value)])})

  async def round_of(values):
    return await asyncio.gather(*[one(value) for value in values])

  first = asyncio.run(round_of(range(8)))
  second = asyncio.run(round_of(range(8, 16)))
  scheduler.stop()
  assert [r['y'].tolist() for r in first + second] == [
      [2.0 * v] for v in range(16)]
  assert ran_within_round == [True]
  assert runs == [[float(v) for v in range(8)], [8.0, 9.0, 10.0, 11.0],
                  [12.0, 13.0, 14.0, 15.0]]


@pytest.mark.parametrize('transport', ['event_loop', 'threads'])
def test_grpc_calls_without_a_deadline_are_batched(models, tmp_path,
                                                   start_server, transport):
  # A call with no deadline (h2load sends none; grpcio then reports about
  # 2**63 ns remaining) failed with INTERNAL before the fix: the batch wait
  # could not take so long a timeout.
  deploy(models['hpt_v1'], tmp_path / 'hpt', 1)
  params = tmp_path / 'batching.config'
  params.write_text('max_batch_size { value: 4 } num_batch_threads { value: 1 }')
  server = start_server(model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
                        file_system_poll_wait_seconds=0, enable_batching=True,
                        batching_parameters_file=str(params),
                        server_transport=transport)
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'hpt'
  request.inputs['x'].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
  with grpc.insecure_channel(f'127.0.0.1:{server.grpc_port}') as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(request)  # No timeout.
  assert list(response.outputs['y'].float_val) == [2.5, 3.0]


def test_batching_file_without_enable_is_an_error(start_server, tmp_path):
  params = tmp_path / 'batching.config'
  params.write_text('max_batch_size { value: 4 }')
  with pytest.raises(status.ServingError) as info:
    start_server(model_name='x', model_base_path=str(tmp_path),
                 batching_parameters_file=str(params))
  assert 'without setting server_options.enable_batching' in info.value.message
