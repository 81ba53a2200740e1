"""The HTTP/1.1 transport of the REST API (standard library only).

Python's ThreadingHTTPServer, one thread per keep-alive connection, tuned for
latency: responses are written in one send with TCP_NODELAY (no Nagle /
delayed-ACK stalls), bodies may be chunked, and idle connections are closed
on shutdown.

It faces untrusted clients, so every resource a client can make it spend is
bounded (the bounds table in serving/README.md lists them):

* bodies over --rest_api_max_body_bytes get 413 before being read, chunked
  ones included: chunk sizes are strict hex, chunk-size and trailer lines are
  at most MAX_LINE_BYTES long, and at most MAX_TRAILER_LINES trailers;
* at most --rest_api_num_threads connections (one thread each) are served
  at once; further ones get an immediate 503 from a single helper thread,
  so a flood of slow clients cannot grow the thread count;
* a connection silent for --rest_api_idle_timeout_in_ms is closed: between
  requests silently, inside a request (its headers or body) after a 408;
* every request line gets an answer: empty lines before it are skipped
  (RFC 9112 section 2.2; at most MAX_EMPTY_LINES), a blank one is a 400;
* a request that runs longer than --rest_api_timeout_in_ms is answered 504
  by a watchdog thread (TensorFlow cannot interrupt a running call, so the
  call finishes in the background and its connection is closed after).
"""

import heapq
import http.server
import itertools
import logging
import queue
import socket
import threading
import time
from typing import Optional

from serving import json_output
from serving import status

# Same as http.client's limit on one header line, which the standard library
# already applies to the request line and headers.
MAX_LINE_BYTES = 65536
MAX_TRAILER_LINES = 100  # http.client's _MAXHEADERS.
MAX_EMPTY_LINES = 100  # Empty lines skipped before a request line.
_HEX = frozenset(b'0123456789abcdefABCDEF')
_MAX_CONTENT_LENGTH_DIGITS = 19  # Beyond any int64 (and any body limit).
_REJECT_QUEUE = 128
_REJECT_SECONDS = 0.5
_LINGER_SECONDS = 0.5
_LINGER_BYTES = 1024 * 1024


class _BadRequest(ValueError):
  """A malformed request body; the message goes to the client."""


class _Handler(http.server.BaseHTTPRequestHandler):
  """HTTP/1.1 keep-alive transport for RestApi."""

  protocol_version = 'HTTP/1.1'
  # Errors in a request line of two words (HTTP/0.9 style) still get a
  # status line and headers, not a bare HTML body (found by the fuzzer).
  default_request_version = 'HTTP/1.1'
  server_version = 'TensorFlowServing-compatible'

  def setup(self):
    # StreamRequestHandler.setup applies self.timeout to the socket: every
    # read (and write) waits at most the idle timeout.
    self.timeout = self.server.idle_timeout
    super().setup()
    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    self._answer_lock = threading.Lock()
    self._answered = False
    self._linger = False
    with self.server.lock:
      self.server.connections.add(self.connection)

  def finish(self):
    with self.server.lock:
      self.server.connections.discard(self.connection)
    try:
      super().finish()
      if self._linger:
        self._lingering_close()
    except OSError:
      pass

  def _lingering_close(self) -> None:
    """After an error answer, drains a little of what the client still sends.

    Closing with unread input makes the kernel send a reset, which can
    destroy the error response before the client reads it. The drain is
    bounded in bytes and time, so it cannot hold the thread.
    """
    self.connection.shutdown(socket.SHUT_WR)
    self.connection.settimeout(_LINGER_SECONDS)
    end = time.monotonic() + _LINGER_SECONDS
    drained = 0
    while time.monotonic() < end and drained < _LINGER_BYTES:
      data = self.connection.recv(65536)
      if not data:
        break
      drained += len(data)

  def parse_request(self):
    # The standard library closes without an answer on an empty request
    # line (found by the fuzzer); RFC 9112 section 2.2: a server SHOULD
    # ignore at least one empty line received before the request-line.
    # A read timing out here is idleness between requests: closed silently.
    for _ in range(MAX_EMPTY_LINES):
      if self.raw_requestline not in (b'\r\n', b'\n'):
        break
      self.raw_requestline = self.rfile.readline(MAX_LINE_BYTES + 1)
    if not self.raw_requestline:
      self.close_connection = True  # Only empty lines, then the end.
      return False
    if len(self.raw_requestline) > MAX_LINE_BYTES:
      self.send_error(414)
      return False
    if not str(self.raw_requestline, 'iso-8859-1').split():
      self.send_error(400, 'Bad request syntax: empty request line')
      return False
    try:
      return super().parse_request()  # Reads the headers too.
    except TimeoutError:
      self._timed_out_reading('headers')
      return False

  def _timed_out_reading(self, what: str) -> None:
    timeout_ms = int(self.server.idle_timeout * 1000)
    self.send_error(408, f'Request timed out: no data for {timeout_ms} ms '
                    f'while reading its {what} (--rest_api_idle_timeout_in_ms)')

  def _line(self, what: str) -> bytes:
    line = self.rfile.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
      raise _BadRequest(f'{what} line longer than {MAX_LINE_BYTES} bytes')
    if not line.endswith(b'\n'):
      raise _BadRequest(f'Unexpected end of chunked body in {what} line')
    return line

  def _read_chunked(self, limit: int) -> Optional[bytes]:
    chunks, total = [], 0
    while True:
      size_text = self._line('chunk-size').split(b';', 1)[0].strip()
      if not size_text or not _HEX.issuperset(size_text):
        raise _BadRequest(f'Invalid chunk size {size_text[:40]!r}')
      size = int(size_text, 16)
      if size == 0:
        break
      total += size
      if total > limit:
        return None
      data = self.rfile.read(size)
      if len(data) != size:
        raise _BadRequest('Unexpected end of chunked body in a chunk')
      chunks.append(data)
      if self._line('chunk end').strip():
        raise _BadRequest('Chunk data longer than its chunk size')
    for _ in range(MAX_TRAILER_LINES + 1):
      if self._line('trailer') in (b'\r\n', b'\n'):
        return b''.join(chunks)
    raise _BadRequest(f'More than {MAX_TRAILER_LINES} trailer lines')

  def _read_body(self) -> Optional[bytes]:
    """The request body; None when it is over the limit (left unread)."""
    limit = self.server.max_body_bytes
    if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
      return self._read_chunked(limit)
    text = (self.headers.get('Content-Length') or '0').strip()
    if not text.isdigit() or len(text) > _MAX_CONTENT_LENGTH_DIGITS:
      if text.isdigit():
        return None  # Absurdly large: refused unread.
      raise _BadRequest(f'Invalid Content-Length {text[:40]!r}')
    length = int(text)
    if length > limit:
      return None
    body = self.rfile.read(length) if length else b''
    if len(body) != length:
      raise _BadRequest('Unexpected end of request body')
    return body

  def _claim_answer(self) -> bool:
    """True for the one thread (handler or watchdog) that may answer."""
    with self._answer_lock:
      if self._answered:
        return False
      self._answered = True
      return True

  def _payload(self, code: int, headers, body: str) -> bytes:
    payload = body.encode('utf-8')
    lines = [f'HTTP/1.1 {code} {self.responses.get(code, ("",))[0]}']
    lines += [f'{k}: {v}' for k, v in headers]
    lines.append(f'Content-Length: {len(payload)}')
    if self.close_connection:
      lines.append('Connection: close')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + payload

  def _respond(self, code: int, headers, body: str) -> None:
    if not self._claim_answer():
      self.close_connection = True  # The watchdog answered 504 already.
      return
    self.wfile.write(self._payload(code, headers, body))

  def _error(self, code: int, message: str) -> None:
    self.close_connection = True  # The stream position is unknown.
    self._linger = True
    self._respond(code, [('Content-Type', 'application/json')],
                  json_output.error(message))

  def send_error(self, code, message=None, explain=None):
    """The standard library's protocol errors (bad request line, too long
    headers, unsupported method) as TF Serving-style JSON errors."""
    del explain
    self.close_connection = True
    self._linger = True
    text = message or self.responses.get(code, ('Error',))[0]
    try:
      self.wfile.write(self._payload(
          code, [('Content-Type', 'application/json')],
          json_output.error(text)))
    except OSError:
      pass

  def time_out(self) -> None:
    """Called by the watchdog: answers 504 unless already answered."""
    if not self._claim_answer():
      return
    self.close_connection = True
    timeout_ms = int(self.server.request_timeout * 1000)
    try:
      self.connection.sendall(self._payload(
          504, [('Content-Type', 'application/json')], json_output.error(
              f'Request timed out after {timeout_ms} ms '
              '(--rest_api_timeout_in_ms)')))
    except OSError:
      pass

  def _serve(self, method: str) -> None:
    self._answered = False
    try:
      body = self._read_body()
    except (_BadRequest, ValueError) as e:
      self._error(400, f'Malformed HTTP request body: {e}')
      return
    except TimeoutError:
      self._timed_out_reading('body')
      return
    except OSError:
      self.close_connection = True  # Reset mid-body.
      return
    if body is None:
      self._error(413, 'Request body larger than the limit of '
                  f'{self.server.max_body_bytes} bytes')
      return
    watchdog = self.server.watchdog
    entry = watchdog.watch(self) if watchdog is not None else None
    try:
      code, headers, output = self.server.api.handle(method, self.path, body)
    finally:
      if entry is not None:
        watchdog.unwatch(entry)
    self._respond(code, headers, output)

  def do_GET(self):  # pylint: disable=invalid-name
    self._serve('GET')

  def do_POST(self):  # pylint: disable=invalid-name
    self._serve('POST')

  def do_PUT(self):  # pylint: disable=invalid-name
    self._serve('PUT')

  def do_DELETE(self):  # pylint: disable=invalid-name
    self._serve('DELETE')

  def do_OPTIONS(self):  # pylint: disable=invalid-name
    self._serve('OPTIONS')

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    logging.debug('%s - %s', self.address_string(), format % args)


class _Watchdog:
  """One thread that answers 504 for requests past their deadline.

  Deadlines are all now + the same timeout, so a new entry only wakes the
  thread when the heap was empty; finished requests are dropped lazily.
  """

  def __init__(self, timeout: float):
    self._timeout = timeout
    self._cond = threading.Condition()
    self._heap = []
    self._seq = itertools.count()
    self._stopped = False
    self._thread = threading.Thread(target=self._loop, daemon=True,
                                    name='rest_api_timeouts')
    self._thread.start()

  def watch(self, handler) -> list:
    entry = [time.monotonic() + self._timeout, next(self._seq), handler]
    with self._cond:
      heapq.heappush(self._heap, entry)
      if self._heap[0] is entry:
        self._cond.notify()
    return entry

  @staticmethod
  def unwatch(entry: list) -> None:
    entry[2] = None

  def _next_expired(self):
    with self._cond:
      while not self._stopped:
        while self._heap and self._heap[0][2] is None:
          heapq.heappop(self._heap)
        if not self._heap:
          self._cond.wait()
          continue
        wait = self._heap[0][0] - time.monotonic()
        if wait > 0:
          self._cond.wait(wait)
          continue
        return heapq.heappop(self._heap)[2]
    return None

  def _loop(self) -> None:
    while True:
      handler = self._next_expired()
      if handler is None:
        return
      try:
        handler.time_out()
      except Exception:  # pylint: disable=broad-except
        logging.debug('Answering a timed-out request failed', exc_info=True)

  def stop(self) -> None:
    with self._cond:
      self._stopped = True
      self._cond.notify()
    self._thread.join(timeout=5)


class _Rejector:
  """One thread that answers 503 to connections over the cap, then closes.

  The client's request is drained briefly before closing, so it reads the
  503 rather than a connection reset. When even this queue is full the
  connection is closed at once.
  """

  def __init__(self, max_connections: int):
    body = json_output.error(
        f'Too many connections: at most {max_connections} are served at '
        'once (--rest_api_num_threads); retry later').encode('utf-8')
    self._response = (
        b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json'
        b'\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n'
        b'\r\n%s' % (len(body), body))
    self._queue = queue.Queue(maxsize=_REJECT_QUEUE)
    self._thread = threading.Thread(target=self._loop, daemon=True,
                                    name='rest_api_rejector')
    self._thread.start()

  def reject(self, sock: socket.socket) -> None:
    try:
      self._queue.put_nowait(sock)
    except queue.Full:
      _close(sock)

  def _loop(self) -> None:
    while True:
      sock = self._queue.get()
      if sock is None:
        return
      try:
        sock.settimeout(_REJECT_SECONDS)
        sock.sendall(self._response)
        sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + _REJECT_SECONDS
        drained = 0
        while time.monotonic() < end and drained < MAX_LINE_BYTES:
          data = sock.recv(65536)
          if not data:
            break
          drained += len(data)
      except OSError:
        pass
      finally:
        _close(sock)

  def stop(self) -> None:
    try:
      self._queue.put(None, timeout=1)
    except queue.Full:
      pass
    self._thread.join(timeout=5)


def _close(sock: socket.socket) -> None:
  try:
    sock.close()
  except OSError:
    pass


class _Server(http.server.ThreadingHTTPServer):
  """ThreadingHTTPServer with a cap on concurrent connections."""

  daemon_threads = True
  block_on_close = False  # stop() joins with a timeout instead.
  allow_reuse_address = True
  request_queue_size = 128

  def __init__(self, *args, max_connections: int, **kwargs):
    self.lock = threading.Lock()
    self.connections = set()
    self.threads = set()
    self.max_connections = max_connections
    self.active = 0
    self.rejector: Optional[_Rejector] = None
    self.watchdog: Optional[_Watchdog] = None
    super().__init__(*args, **kwargs)

  def process_request(self, request, client_address):
    with self.lock:
      over = self.active >= self.max_connections
      if not over:
        self.active += 1
    if over:
      self.rejector.reject(request)
      return
    try:
      super().process_request(request, client_address)
    except Exception:  # pylint: disable=broad-except  (thread start failed)
      with self.lock:
        self.active -= 1
      raise

  def process_request_thread(self, request, client_address):
    thread = threading.current_thread()
    with self.lock:
      self.threads.add(thread)
    try:
      super().process_request_thread(request, client_address)
    finally:
      with self.lock:
        self.active -= 1
        self.threads.discard(thread)

  def close_connections(self) -> None:
    """Ends idle keep-alive connections, whose threads would linger."""
    with self.lock:
      connections = list(self.connections)
    for connection in connections:
      try:
        connection.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass

  def join_threads(self, timeout: float) -> None:
    end = time.monotonic() + timeout
    with self.lock:
      threads = list(self.threads)
    for thread in threads:
      thread.join(timeout=max(0.0, end - time.monotonic()))

  def handle_error(self, request, client_address):
    logging.debug('Connection from %s dropped', client_address,
                  exc_info=True)


class RestServer:
  """Runs a RestApi on host:port in a background thread.

  Args:
    api: the RestApi.
    host, port: where to listen (the socket is bound here, in __init__).
    max_body_bytes: larger bodies get 413.
    max_connections: connections served at once; more get 503.
    idle_timeout: seconds a connection may stay silent.
    request_timeout: seconds before a request is answered 504 (None: never).
  """

  def __init__(self, api, host: str, port: int, max_body_bytes: int,
               max_connections: int = 256, idle_timeout: float = 30.0,
               request_timeout: Optional[float] = None):
    try:
      self._server = _Server((host, port), _Handler,
                             max_connections=max_connections)
    except OSError as e:
      raise status.ServingError(
          status.UNAVAILABLE,
          f'Failed to start HTTP Server at {host}:{port}: {e}') from None
    self._server.api = api
    self._server.max_body_bytes = max_body_bytes
    self._server.idle_timeout = idle_timeout
    self._server.request_timeout = request_timeout
    self.port = self._server.server_address[1]
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    kwargs={'poll_interval': 0.2},
                                    daemon=True, name='rest_api')

  def start(self) -> None:
    self._server.rejector = _Rejector(self._server.max_connections)
    if self._server.request_timeout:
      self._server.watchdog = _Watchdog(self._server.request_timeout)
    self._thread.start()

  def stop(self) -> None:
    """Stops serving; safe on a server that was bound but never started."""
    started = self._thread.is_alive()
    if started:
      self._server.shutdown()
    self._server.server_close()
    self._server.close_connections()
    self._server.join_threads(timeout=10)
    for helper in (self._server.rejector, self._server.watchdog):
      if helper is not None:
        helper.stop()
    if started:
      self._thread.join(timeout=10)
