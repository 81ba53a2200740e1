"""Server-side batching: TF Serving's parameters and semantics."""

import threading
import time

import numpy as np
import pytest

from serving_helpers import call, deploy
from serving import batching
from serving import prometheus
from serving import status


def make_scheduler(**kwargs):
  return batching.BatchScheduler(batching.BatchingOptions(**kwargs),
                                 prometheus.Metrics())


def test_concurrent_tasks_are_merged_and_split_back():
  calls = []

  def run(inputs):
    calls.append(len(inputs['x']))
    time.sleep(0.01)
    return {'y': inputs['x'] * 2}

  scheduler = make_scheduler(max_batch_size=8, batch_timeout_micros=50000,
                             num_batch_threads=1)
  results = {}

  def worker(i):
    results[i] = scheduler.run(('m',), run, {'x': np.array([i, i], np.int64)})

  threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  scheduler.stop()
  assert all(results[i]['y'].tolist() == [2 * i, 2 * i] for i in range(8))
  assert sum(calls) == 16 and max(calls) == 8 and len(calls) <= 4


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
  deadline = time.monotonic() + 10
  while not any(q.closed for q in list(scheduler._queues.values())):  # pylint: disable=protected-access
    assert time.monotonic() < deadline
    time.sleep(0.01)
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
  params.write_text('max_batch_size { value: 16 } '
                    'batch_timeout_micros { value: 20000 } '
                    'num_batch_threads { value: 1 }')
  server = start_server(model_name='hpt', model_base_path=str(tmp_path / 'hpt'),
                        file_system_poll_wait_seconds=0, enable_batching=True,
                        batching_parameters_file=str(params))
  before = server.metrics.wrapped_run_count.value()
  results = {}

  def worker(i):
    results[i] = call(server.rest_port, 'POST', '/v1/models/hpt:predict',
                      {'instances': [float(i)]})

  threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert all(results[i] == (200, {'predictions': [0.5 * i + 2]})
             for i in range(12))
  runs = server.metrics.wrapped_run_count.value() - before
  assert runs < 12  # Requests were merged into fewer model calls.


def test_batching_file_without_enable_is_an_error(start_server, tmp_path):
  params = tmp_path / 'batching.config'
  params.write_text('max_batch_size { value: 4 }')
  with pytest.raises(status.ServingError) as info:
    start_server(model_name='x', model_base_path=str(tmp_path),
                 batching_parameters_file=str(params))
  assert 'without setting server_options.enable_batching' in info.value.message
