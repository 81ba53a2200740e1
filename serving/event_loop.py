"""The one event loop both APIs run on (REST and gRPC), in its own thread.

A connection on an event loop costs a socket and a few objects, not a
thread: idle and slow clients wait on the loop, and only work that blocks
(a model run without batching, classify/regress, config reloads) goes to a
small thread pool. The loop is uvloop's (libuv; TF Serving multiplexes its
connections on libevent the same way); `grpc.aio` and the REST protocol
(rest_async.py) share it.
"""

import asyncio
import concurrent.futures
import logging
import threading
from typing import Awaitable, Optional, TypeVar

import uvloop

T = TypeVar('T')


class EventLoop:
  """An asyncio (uvloop) loop running in a daemon thread."""

  def __init__(self, name: str = 'serving_event_loop'):
    self.loop = uvloop.new_event_loop()
    self._thread = threading.Thread(target=self._run, daemon=True, name=name)
    self._thread.start()

  def _run(self) -> None:
    asyncio.set_event_loop(self.loop)
    try:
      self.loop.run_forever()
    finally:
      try:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
      except RuntimeError:
        pass

  def run(self, coro: Awaitable[T], timeout: Optional[float] = 60.0) -> T:
    """Runs a coroutine on the loop and waits for its result."""
    return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

  def call(self, fn, *args) -> None:
    """Schedules a plain function on the loop (thread-safe)."""
    self.loop.call_soon_threadsafe(fn, *args)

  def stop(self) -> None:
    if not self._thread.is_alive():
      return
    self.loop.call_soon_threadsafe(self.loop.stop)
    self._thread.join(timeout=10)
    if not self._thread.is_alive():
      self.loop.close()
    else:
      logging.warning('The serving event loop did not stop within 10 s')


def executor(threads: int, name: str) -> concurrent.futures.ThreadPoolExecutor:
  """The thread pool for work that blocks, off the loop."""
  return concurrent.futures.ThreadPoolExecutor(max_workers=threads,
                                               thread_name_prefix=name)
