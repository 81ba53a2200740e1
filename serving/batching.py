"""Server-side request batching with TF Serving's BatchingParameters.

Concurrent requests to the same signature of the same model version are
concatenated along dimension 0, run as one call, and split back, as TF
Serving's BatchingSession does. A batch is processed when it is full
(`max_batch_size`) or, once a batch thread is free, when its oldest request
has waited `batch_timeout_micros`. `num_batch_threads` threads are shared by
all models; at most `max_enqueued_batches` batches wait per queue, beyond
which requests fail with UNAVAILABLE instead of piling up. Padding to
`allowed_batch_sizes` repeats the first row, like TF Serving.

Requests from an event loop (run_async) join a batch that is held until
the loop has finished the round of work it is in (a callback scheduled
with call_soon): every request the loop parsed in that round goes into
one batch, and the batch threads wake once per batch, not once per
request. Without the hold, a free batch thread takes each request the
moment it is enqueued (batch_timeout_micros 0), so batches stay at one or
two requests while the loop is the busy thread (measured: 1.4 requests per
batch for gRPC at 32 concurrent calls). The hold adds no timer: the batch
is released as soon as the loop has nothing more of the round to run.

Holding a whole round makes the loop and the graph take turns: over REST
a batch's answers go out together, so its clients' next requests arrive
together, the loop parses all of them while the batch threads wait, then
the graph runs them while the loop waits. So a held batch is also closed
early, mid-round, once it holds its share of the requests in flight for
its queue (the most in flight at the end of the recent rounds, divided by
num_batch_threads) and is old enough to run (batch_timeout_micros): at 32
concurrent clients, 2 batch threads and a timeout of 0, the graph starts on
the first 16 while the loop parses the next 16. The share is learnt from
earlier rounds only, so a first round, or a request alone in its round, is
batched as before.
"""

import asyncio
import collections
import dataclasses
import math
import os
import threading
import time
from typing import Callable, Deque, Dict, List, Optional, Tuple

import numpy as np

from serving import status

RunFn = Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]
# Raises status.ServingError for inputs the model cannot take.
CheckFn = Callable[[Dict[str, np.ndarray]], None]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
  """TF Serving's defaults when --enable_batching has no parameters file."""
  max_batch_size: int = 1000
  batch_timeout_micros: int = 0
  max_enqueued_batches: int = 10
  num_batch_threads: int = os.cpu_count() or 1
  thread_pool_name: str = 'batch_threads'
  allowed_batch_sizes: Tuple[int, ...] = ()
  enable_large_batch_splitting: bool = False

  @classmethod
  def from_proto(cls, params) -> 'BatchingOptions':
    """From a BatchingParameters proto (unset fields keep the defaults)."""
    kwargs = {}
    for name in ('max_batch_size', 'batch_timeout_micros',
                 'max_enqueued_batches', 'num_batch_threads'):
      if params.HasField(name):
        kwargs[name] = int(getattr(params, name).value)
    if params.HasField('thread_pool_name'):
      kwargs['thread_pool_name'] = params.thread_pool_name.value
    if params.HasField('enable_large_batch_splitting'):
      kwargs['enable_large_batch_splitting'] = bool(
          params.enable_large_batch_splitting.value)
    kwargs['allowed_batch_sizes'] = tuple(params.allowed_batch_sizes)
    options = cls(**kwargs)
    options.validate()
    return options

  def validate(self) -> None:
    if self.max_batch_size < 1 or self.num_batch_threads < 1:
      raise status.invalid_argument(
          'max_batch_size and num_batch_threads must be positive')
    sizes = list(self.allowed_batch_sizes)
    if sizes:
      if sizes != sorted(set(sizes)):
        raise status.invalid_argument(
            'allowed_batch_sizes entries must be monotonically increasing')
      if sizes[-1] != self.max_batch_size:
        raise status.invalid_argument(
            'final entry in allowed_batch_sizes must equal max_batch_size')


class _Task:
  """One request in a batch; finished through an Event (a blocking caller)
  or an asyncio future (a caller on the event loop)."""
  __slots__ = ('inputs', 'size', 'done', 'future', 'loop', 'outputs',
               'error', 'enqueued', 'abandoned')

  def __init__(self, inputs: Dict[str, np.ndarray], size: int, loop=None):
    self.inputs = inputs
    self.size = size
    self.loop = loop
    self.future = loop.create_future() if loop is not None else None
    self.done = threading.Event() if loop is None else None
    self.outputs: Optional[Dict[str, np.ndarray]] = None
    self.error: Optional[Exception] = None
    self.enqueued = time.monotonic()
    self.abandoned = False


def _resolve(tasks: List[_Task]) -> None:
  """Sets the futures of a finished batch's tasks (on their loop)."""
  for task in tasks:
    if task.future.done():  # Timed out meanwhile.
      continue
    if task.error is not None:
      task.future.set_exception(task.error)
    else:
      task.future.set_result(task.outputs)


def _finish(tasks: List[_Task]) -> None:
  """Wakes the tasks' callers: one call per event loop, not per task."""
  by_loop: Dict[int, List[_Task]] = {}
  for task in tasks:
    if task.loop is None:
      task.done.set()
    else:
      by_loop.setdefault(id(task.loop), []).append(task)
  for group in by_loop.values():
    try:
      group[0].loop.call_soon_threadsafe(_resolve, group)
    except RuntimeError:  # The loop is closed: nobody waits any more.
      pass


class _Batch:
  __slots__ = ('key', 'run_fn', 'check_fn', 'tasks', 'size', 'created',
               'held', 'loop_rows')

  def __init__(self, key, run_fn: RunFn, check_fn: Optional[CheckFn] = None):
    self.key = key
    self.run_fn = run_fn
    self.loop_rows = 0  # Rows from an event loop (counted in its _Flow).
    self.check_fn = check_fn
    self.tasks: List[_Task] = []
    self.size = 0
    self.created = time.monotonic()
    # An event loop is still adding to it (see the module docstring).
    self.held = False


class _Queue:
  def __init__(self):
    self.open: Optional[_Batch] = None
    self.closed: Deque[_Batch] = collections.deque()

  def pending(self) -> int:
    return len(self.closed) + (1 if self.open and self.open.tasks else 0)


# How much of the in-flight estimate survives each round whose end sees
# fewer requests in flight (it falls by half in about 70 rounds).
_IN_FLIGHT_DECAY = 0.99


class _Flow:
  """Requests in flight from an event loop, per queue key (see the module
  docstring): rows enqueued and not finished, and the most of them seen at
  the end of recent rounds."""
  __slots__ = ('rows', 'peak')

  def __init__(self):
    self.rows = 0
    self.peak = 0.0


def _merge(tasks: List[_Task]) -> Dict[str, np.ndarray]:
  """The tasks' inputs concatenated on dimension 0."""
  if len(tasks) == 1:
    return tasks[0].inputs
  return {name: np.concatenate([t.inputs[name] for t in tasks], axis=0)
          for name in tasks[0].inputs}


def _checked(check_fn: CheckFn, tasks: List[_Task], merged
             ) -> Tuple[List[_Task], Dict[str, np.ndarray]]:
  """The tasks whose inputs pass `check_fn`, and their merged inputs; the
  others are finished with their own error."""
  try:
    check_fn(merged)
    return tasks, merged
  except status.ServingError:
    pass
  passed, failed = [], []
  for task in tasks:
    try:
      check_fn(task.inputs)
      passed.append(task)
    except status.ServingError as e:
      task.error = e
      failed.append(task)
  _finish(failed)
  return passed, (_merge(passed) if passed else {})


def _shape_key(inputs: Dict[str, np.ndarray]) -> tuple:
  """Only tensors with equal inner shapes and dtypes can be concatenated."""
  return tuple(sorted((k, v.dtype, v.shape[1:]) for k, v in inputs.items()))


def _expire(task: _Task) -> None:
  if not task.future.done():
    task.abandoned = True
    task.future.set_exception(_deadline_error())


def _deadline_error() -> status.ServingError:
  return status.ServingError(status.DEADLINE_EXCEEDED,
                             'Deadline exceeded while waiting in the '
                             'batching queue')


def _batch_size(inputs: Dict[str, np.ndarray]) -> int:
  sizes = set()
  for value in inputs.values():
    if value.ndim < 1:
      raise status.invalid_argument(
          'Batching Run() input tensors must have at least one dimension')
    sizes.add(value.shape[0])
  if len(sizes) > 1:
    raise status.invalid_argument(
        'Batching Run() input tensors must have equal 0th-dimension size')
  return sizes.pop() if sizes else 0


class BatchScheduler:
  """Batches `run` calls per key; thread-safe; one instance per server."""

  def __init__(self, options: BatchingOptions, metrics=None):
    options.validate()
    self.options = options
    self._metrics = metrics
    self._cond = threading.Condition()
    self._queues: Dict[tuple, _Queue] = {}
    self._stopped = False
    self._release_scheduled = False
    self._flows: Dict[tuple, _Flow] = {}
    self._threads = [
        threading.Thread(target=self._work, daemon=True,
                         name=f'{options.thread_pool_name}_{i}')
        for i in range(options.num_batch_threads)]
    for thread in self._threads:
      thread.start()

  def run(self, key: tuple, run_fn: RunFn, inputs: Dict[str, np.ndarray],
          deadline: Optional[float] = None) -> Dict[str, np.ndarray]:
    """Runs `run_fn` on `inputs` as part of a batch; blocks for the result.

    Args:
      key: identifies what may be batched together (servable, signature).
      run_fn: runs a merged batch.
      inputs: this request's tensors (dimension 0 is the batch).
      deadline: time.monotonic() after which to give up.
    """
    size = self._check_size(inputs)
    if size is None:
      return run_fn(inputs)  # Already a batch of its own.
    task = _Task(inputs, size)
    self._enqueue(key + _shape_key(inputs), run_fn, task)
    timeout = None if deadline is None else max(0.0,
                                                deadline - time.monotonic())
    if not task.done.wait(timeout):
      task.abandoned = True
      raise _deadline_error()
    if task.error is not None:
      raise task.error
    return task.outputs

  async def run_async(self, key: tuple, run_fn: RunFn,
                      inputs: Dict[str, np.ndarray],
                      deadline: Optional[float] = None,
                      executor=None, check_fn: Optional[CheckFn] = None
                      ) -> Dict[str, np.ndarray]:
    """`run` for a caller on an event loop: awaits an asyncio future.

    The batch threads set the futures of a whole batch with one call into
    the loop; a request past its deadline is failed by a loop timer and
    skipped by the batch that would have held it. A request larger than
    max_batch_size with enable_large_batch_splitting runs alone in
    `executor`. `check_fn` checks the inputs once per batch instead of once
    per request (requests batched together have equal dtypes and inner
    shapes); when a batch fails it, each request is checked alone, so an
    error reaches only the request it is about.
    """
    try:
      size = self._check_size(inputs)
    except status.ServingError:
      if check_fn is not None:
        check_fn(inputs)  # Its errors came first when it ran per request.
      raise
    loop = asyncio.get_running_loop()
    if size is None:
      if check_fn is not None:
        check_fn(inputs)
      return await loop.run_in_executor(executor, run_fn, inputs)
    task = _Task(inputs, size, loop)
    if self._enqueue(key + _shape_key(inputs), run_fn, task, check_fn,
                     hold=True):
      loop.call_soon(self._release_held)
    timer = None
    if deadline is not None:
      timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()),
                           _expire, task)
    try:
      return await task.future
    finally:
      if timer is not None:
        timer.cancel()

  def _check_size(self, inputs: Dict[str, np.ndarray]) -> Optional[int]:
    """The task's size; None when it is to run unbatched (too large)."""
    size = _batch_size(inputs)
    if size > self.options.max_batch_size:
      if self.options.enable_large_batch_splitting:
        return None
      raise status.invalid_argument(
          f'Task size {size} is larger than maximum input batch size '
          f'{self.options.max_batch_size}')
    return size

  def _enqueue(self, key, run_fn, task: _Task, check_fn=None,
               hold: bool = False) -> bool:
    """Adds `task` to its queue's open batch. With `hold` (a caller on an
    event loop) the batch waits for _release_held; returns whether the
    caller must schedule that (it is not scheduled yet)."""
    max_size = self.options.max_batch_size
    with self._cond:
      if self._stopped:
        raise status.ServingError(status.UNAVAILABLE,
                                  'Batch scheduler is stopped')
      queue = self._queues.get(key)
      if queue is None:
        queue = self._queues[key] = _Queue()
      closed = False
      if queue.open is not None and queue.open.size + task.size > max_size:
        queue.closed.append(queue.open)
        queue.open = None
        closed = True
      if queue.open is None:
        if len(queue.closed) >= self.options.max_enqueued_batches:
          raise status.ServingError(
              status.UNAVAILABLE, 'The batch scheduling queue to which this '
              'task was submitted is full')
        queue.open = _Batch(key, run_fn, check_fn)
      batch = queue.open
      batch.tasks.append(task)
      batch.size += task.size
      if hold:
        flow = self._flows.get(key)
        if flow is None:
          flow = self._flows[key] = _Flow()
        flow.rows += task.size
        batch.loop_rows += task.size
        share = math.ceil(flow.peak / self.options.num_batch_threads)
        # Only a batch that could run now were it not held: one younger
        # than batch_timeout_micros keeps gathering.
        if share and batch.size >= share and (
            time.monotonic() - batch.created <
            self.options.batch_timeout_micros / 1e6):
          share = 0
      if batch.size >= max_size or (hold and share and batch.size >= share):
        queue.closed.append(batch)
        queue.open = None
        if hold:
          self._cond.notify()
          schedule = not self._release_scheduled
          self._release_scheduled = True
          return schedule
      elif hold:
        batch.held = True
        if closed:  # The batch it closed may run now.
          self._cond.notify()
        schedule = not self._release_scheduled
        self._release_scheduled = True
        return schedule
      self._cond.notify()
      return False

  def _release_held(self) -> None:
    """The loop's round is over: its held batches may run now, and the
    requests in flight are counted for the next rounds' shares."""
    with self._cond:
      self._release_scheduled = False
      released = 0
      for queue in self._queues.values():
        if queue.open is not None and queue.open.held:
          queue.open.held = False
          released += 1
      for key, flow in list(self._flows.items()):
        flow.peak = max(flow.rows, flow.peak * _IN_FLIGHT_DECAY)
        if not flow.rows and flow.peak < 1:
          del self._flows[key]
      if released:
        self._cond.notify(released)

  def _done(self, batch: _Batch) -> None:
    """A batch from an event loop is finished: its rows leave the flow."""
    if not batch.loop_rows:
      return
    with self._cond:
      flow = self._flows.get(batch.key)
      if flow is not None:
        flow.rows -= batch.loop_rows

  def _next_batch(self) -> Tuple[Optional[_Batch], Optional[float]]:
    """Oldest full batch, else the oldest expired open one; else a wait."""
    timeout = self.options.batch_timeout_micros / 1e6
    now = time.monotonic()
    best_key, best, from_closed, wait = None, None, False, None
    for key, queue in self._queues.items():
      if queue.closed:
        batch = queue.closed[0]
        if best is None or not from_closed or batch.created < best.created:
          best_key, best, from_closed = key, batch, True
      elif (queue.open is not None and queue.open.tasks and not from_closed
            and not queue.open.held):
        remaining = queue.open.created + timeout - now
        if remaining <= 0:
          if best is None or queue.open.created < best.created:
            best_key, best = key, queue.open
        else:
          wait = remaining if wait is None else min(wait, remaining)
    if best is None:
      return None, wait
    queue = self._queues[best_key]
    if from_closed:
      queue.closed.popleft()
    else:
      queue.open = None
    if not queue.closed and queue.open is None:
      del self._queues[best_key]
    return best, None

  def _work(self) -> None:
    while True:
      with self._cond:
        batch = None
        while batch is None:
          if self._stopped:
            return
          batch, wait = self._next_batch()
          if batch is None:
            self._cond.wait(wait)
      try:
        self._process(batch)
      finally:
        self._done(batch)

  def _process(self, batch: _Batch) -> None:
    tasks = [t for t in batch.tasks if not t.abandoned]
    if not tasks:
      return
    start = time.monotonic()
    if self._metrics is not None:
      for task in tasks:
        self._metrics.queuing_latency.add(
            self.options.thread_pool_name,
            value=(start - task.enqueued) * 1e6)
      self._metrics.wrapped_run_count.increment()
    try:
      merged = _merge(tasks)
      if batch.check_fn is not None:
        tasks, merged = _checked(batch.check_fn, tasks, merged)
        if not tasks:
          return
      total = sum(t.size for t in tasks)
      padded = self._padded_size(total)
      if padded > total:  # Pad with copies of the first row.
        merged = {name: np.concatenate(
            [value, np.repeat(value[:1], padded - total, axis=0)], axis=0)
                  for name, value in merged.items()}
      outputs = batch.run_fn(merged)
      offset = 0
      results = [dict() for _ in tasks]
      for name, value in outputs.items():
        if value.ndim < 1 or value.shape[0] != padded:
          raise status.internal(
              f'Batched output tensor {name} has 0th dimension '
              f'{value.shape[0] if value.ndim else "none"}, expected {padded}')
      for i, task in enumerate(tasks):
        for name, value in outputs.items():
          results[i][name] = value[offset:offset + task.size]
        offset += task.size
      for task, result in zip(tasks, results):
        task.outputs = result
    except Exception as e:  # pylint: disable=broad-except
      error = e if isinstance(e, status.ServingError) else (
          status.from_tf_exception(e))
      for task in tasks:
        task.error = error
    _finish(tasks)

  def _padded_size(self, size: int) -> int:
    for allowed in self.options.allowed_batch_sizes:
      if allowed >= size:
        return allowed
    return size

  def stop(self) -> None:
    with self._cond:
      self._stopped = True
      pending = [t for q in self._queues.values()
                 for b in list(q.closed) + ([q.open] if q.open else [])
                 for t in b.tasks]
      self._queues.clear()
      self._cond.notify_all()
    for task in pending:
      task.error = status.ServingError(status.UNAVAILABLE,
                                       'Server is shutting down')
    _finish(pending)
    for thread in self._threads:
      thread.join(timeout=5)


def options_from_parameters(params: Optional[object]) -> BatchingOptions:
  if params is None:
    return BatchingOptions()
  return BatchingOptions.from_proto(params)
