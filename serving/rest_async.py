"""The HTTP/1.1 transport of the REST API on the server's event loop.

Each connection is an asyncio protocol on uvloop, its bytes parsed by
httptools (llhttp, Node.js's C parser): an open connection, idle or slow,
costs a socket and a few objects, never a thread. Requests are answered in
order, one at a time per connection (pipelined ones wait, and reading
pauses while they do). Why uvloop + httptools directly, not an ASGI server
(uvicorn) on them: the bounds below and TF Serving's JSON error bodies
need the parser's events (headers done, each chunk, each trailer) as they
happen, which ASGI hides; and an ASGI layer adds a Python hop per request.

It faces untrusted clients, so every resource a client can make it spend is
bounded (the bounds table in serving/README.md lists them):

* at most --rest_api_max_connections connections are open at once; a
  further one gets HTTP 503 and is closed;
* bodies over --rest_api_max_body_bytes get 413 before being read, chunked
  ones included; chunk-size and trailer lines are at most MAX_LINE_BYTES,
  at most MAX_TRAILER_LINES trailers, the request line and each header line
  at most MAX_LINE_BYTES (414 / 431), at most MAX_HEADERS headers (431);
* a connection silent for --rest_api_idle_timeout_in_ms is closed: between
  requests silently, inside a request (its headers or body) after a 408;
  one whose client does not read its answer is closed after as long;
* a request must arrive whole, and be answered, within
  --rest_api_timeout_in_ms: a request still arriving is answered 408 (a
  client sending a byte a second), one still running 504 (TensorFlow cannot
  interrupt a running call: it finishes in the background, then its
  connection is closed);
* every request line gets an answer, with the messages of Python's
  http.server (which served this API before): empty lines before it are
  skipped (RFC 9112 section 2.2; at most MAX_EMPTY_LINES), a blank one is a
  400, a bad version 400 / 505, an unknown method 501.
"""

import asyncio
import http
import logging
import socket
from typing import Dict, List, Optional, Tuple

import httptools

from serving import json_output
from serving import status

MAX_LINE_BYTES = 65536  # Request line, header, chunk-size, trailer line.
MAX_HEADERS = 100
MAX_TRAILER_LINES = 100
MAX_EMPTY_LINES = 100  # Empty lines skipped before a request line.
_METHODS = frozenset(('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'))
_MAX_CONTENT_LENGTH_DIGITS = 19  # Beyond any int64 (and any body limit).
# Input is fed to the parser in slices of at most this many bytes, so a
# line longer than MAX_LINE_BYTES is caught within one slice of its limit.
_FEED_SLICE = 16384
_LINGER_SECONDS = 0.5
_LINGER_BYTES = 1024 * 1024
_MAX_REJECTING = 128  # Connections over the cap still being answered 503.
_PHRASES = {s.value: s.phrase for s in http.HTTPStatus}
_CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'

# Connection states.
_IDLE, _HEAD, _BODY, _DONE, _LINGER = range(5)


class _HttpError(Exception):
  """A request the transport answers itself (then closes)."""

  def __init__(self, code: int, message: str):
    super().__init__(message)
    self.code = code
    self.message = message


# Status line and headers up to Content-Length, per (code, headers, close):
# the server's own few combinations (clients choose none of them).
_HEADS: Dict[tuple, Tuple[bytes, bytes]] = {}
_MAX_HEADS = 64


def _head(code: int, headers, close: bool) -> Tuple[bytes, bytes]:
  key = (code, close, *headers)
  head = _HEADS.get(key)
  if head is None:
    lines = [f'HTTP/1.1 {code} {_PHRASES.get(code, "")}']
    lines += [f'{k}: {v}' for k, v in headers]
    lines.append('Content-Length: ')
    end = '\r\nConnection: close\r\n\r\n' if close else '\r\n\r\n'
    head = ('\r\n'.join(lines).encode('latin-1'), end.encode('latin-1'))
    if len(_HEADS) < _MAX_HEADS:
      _HEADS[key] = head
  return head


def payload(code: int, headers, body: str, close: bool) -> bytes:
  """A whole response, written with one send."""
  data = body.encode('utf-8')
  start, end = _head(code, headers, close)
  return b''.join((start, str(len(data)).encode('ascii'), end, data))


def _json_error(code: int, message: str, extra=()) -> bytes:
  return payload(code, [('Content-Type', 'application/json'), *extra],
                 json_output.error(message), close=True)


def check_request_line(line: bytes) -> Tuple[str, str, bool]:
  """(method, target, HTTP/1.1 or later) of a request line, or _HttpError.

  The rules and messages of http.server's parse_request, which this API
  answered with before it moved to the event loop.
  """
  text = str(line, 'iso-8859-1').rstrip('\r\n')
  words = text.split()
  if not words:
    raise _HttpError(400, 'Bad request syntax: empty request line')
  http11 = False
  if len(words) >= 3:
    version = words[-1]
    try:
      if not version.startswith('HTTP/'):
        raise ValueError
      base = version.split('/', 1)[1]
      numbers = base.split('.')
      if len(numbers) != 2 or any(not n.isdigit() or len(n) > 10
                                  for n in numbers):
        raise ValueError
      number = int(numbers[0]), int(numbers[1])
    except (ValueError, IndexError):
      raise _HttpError(400, f'Bad request version ({version!r})') from None
    if number >= (2, 0):
      raise _HttpError(505, f'Invalid HTTP version ({base})')
    http11 = number >= (1, 1)
  if not 2 <= len(words) <= 3:
    raise _HttpError(400, f'Bad request syntax ({text!r})')
  method, target = words[:2]
  if len(words) == 2 and method != 'GET':
    raise _HttpError(400, f'Bad HTTP/0.9 request type ({method!r})')
  if method not in _METHODS:
    raise _HttpError(501, f'Unsupported method ({method!r})')
  return method, target, http11


def _content_length_error(head: bytes, limit: int) -> Optional[_HttpError]:
  """The answer to a Content-Length header the parser refused, if any."""
  for line in head.split(b'\n')[1:]:
    name, sep, value = line.partition(b':')
    if sep and name.strip().lower() == b'content-length':
      text = value.strip().decode('latin-1')
      if not text.isdigit():
        return _HttpError(400, 'Malformed HTTP request body: Invalid '
                          f'Content-Length {text[:40]!r}')
      if len(text) > _MAX_CONTENT_LENGTH_DIGITS or int(text) > limit:
        return _too_large(limit)
  return None


def _too_large(limit: int) -> _HttpError:
  return _HttpError(413, f'Request body larger than the limit of {limit} '
                    'bytes')


class _Request:
  __slots__ = ('method', 'url', 'body', 'keep_alive')

  def __init__(self, method, url, body, keep_alive):
    self.method = method
    self.url = url
    self.body = body
    self.keep_alive = keep_alive


class _Connection(asyncio.Protocol):
  """One client connection: parses requests, answers them in order."""

  def __init__(self, server: 'RestServer'):
    self._server = server
    self._loop = server.loop.loop
    self._transport = None
    self._parser = None
    self._state = _IDLE
    self._timer = None
    self._last = 0.0
    self._started = 0.0  # When the request being received began.
    self._rejected = False
    # The request being received (its fields: _reset_message).
    self._raw: Optional[List[bytes]] = None  # Its head, while parsed.
    self._retried = False
    self._close_after = False  # The request line asked for it (HTTP/0.9).
    self._empty_lines = 0
    self._progress = False
    # Requests received (or refused: _HttpError), waiting for the one in
    # flight to be answered.
    self._queue: List[object] = []
    self._in_flight = False
    self._answered = False
    self._deadline_timer = None
    self._write_paused = False
    self._eof = False
    self._lingered = 0
    self._reset_message()

  # ---- asyncio.Protocol ----------------------------------------------------

  def connection_made(self, transport):
    self._transport = transport
    server = self._server
    sock = transport.get_extra_info('socket')
    if sock is not None:
      try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
      except OSError:
        pass
    server.accepted += 1
    if server.open >= server.max_connections:
      self._reject()
      return
    server.open += 1
    server.connections.add(self)
    self._new_parser()
    self._last = self._loop.time()
    self._timer = self._loop.call_at(self._last + server.idle_timeout,
                                     self._on_timer)

  def connection_lost(self, exc):
    del exc
    server = self._server
    if self._rejected:
      server.rejecting -= 1
    elif self in server.connections:
      server.connections.discard(self)
      server.open -= 1
    for timer in (self._timer, self._deadline_timer):
      if timer is not None:
        timer.cancel()
    self._timer = self._deadline_timer = None
    self._queue.clear()

  def pause_writing(self):
    self._write_paused = True
    self._last = self._loop.time()
    self._transport.pause_reading()

  def resume_writing(self):
    self._write_paused = False
    self._last = self._loop.time()
    if not self._in_flight:
      self._next()

  def eof_received(self):
    self._eof = True
    if self._state == _LINGER or self._rejected:
      self._transport.close()
      return True
    if self._state == _BODY:
      self._fail(_HttpError(400, 'Malformed HTTP request body: Unexpected '
                            'end of request body'))
    elif self._state == _HEAD and self._raw is not None and (
        b'\n' not in b''.join(self._raw)):
      # An unfinished request line: as if it had ended (http.server too).
      self.data_received(b'\r\n\r\n')
    elif self._state == _HEAD:
      self._fail(_HttpError(400, 'Malformed HTTP request: the connection '
                            'ended inside the request headers'))
    elif not self._in_flight and not self._queue:
      self._transport.close()
    return True  # Answer what was received, then close.

  def data_received(self, data: bytes):
    self._last = self._loop.time()
    if self._state == _LINGER or self._rejected:
      self._lingered += len(data)
      if self._lingered > _LINGER_BYTES:
        self._transport.close()
      return
    if self._state == _DONE:
      return
    if self._state == _IDLE:
      data = self._skip_empty_lines(data)
      if not data:
        return
    try:
      for offset in range(0, len(data), _FEED_SLICE):
        piece = data[offset:offset + _FEED_SLICE]
        self._feed(piece)
        if self._state in (_DONE, _LINGER):
          return
    except _HttpError as e:
      self._fail(e)

  # ---- parsing ---------------------------------------------------------------

  def _new_parser(self) -> None:
    self._parser = httptools.HttpRequestParser(self)
    # A bare LF ends a header line, as http.server accepted.
    self._parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)

  def _skip_empty_lines(self, data: bytes) -> bytes:
    """RFC 9112 section 2.2: empty lines before a request line are skipped
    (at most MAX_EMPTY_LINES; more, and the line is a blank one: 400)."""
    while data[:1] in (b'\r', b'\n'):
      if data[:2] == b'\r\n':
        data = data[2:]
      elif data[:1] == b'\n':
        data = data[1:]
      else:
        break  # A lone CR: a blank request line.
      self._empty_lines += 1
      if self._empty_lines > MAX_EMPTY_LINES:
        raise_later = _HttpError(400, 'Bad request syntax: empty request '
                                 'line')
        self._fail(raise_later)
        return b''
    return data

  def _feed(self, data: bytes) -> None:
    if self._state == _IDLE:
      self._state = _HEAD
      self._raw = []
      self._request_started()
    if self._raw is not None:
      self._raw.append(data)
    self._progress = False
    try:
      self._parser.feed_data(data)
    except httptools.HttpParserCallbackError as e:
      cause = e.__context__ or e.__cause__
      if isinstance(cause, _HttpError):
        raise cause from None
      raise
    except httptools.HttpParserError as e:
      self._parser_error(str(e))
      return
    if self._progress:
      self._stalled = 0
    else:
      self._stalled += len(data)
      if self._stalled > MAX_LINE_BYTES:
        self._line_too_long()

  def _request_started(self) -> None:
    """A request begins to arrive: it must be whole within the request
    timeout, so the timer fires then if that comes before the idle one."""
    self._started = self._loop.time()
    timeout = self._server.request_timeout
    timer = self._timer
    if timeout is not None and timer is not None and (
        timer.when() > self._started + timeout):
      timer.cancel()
      self._timer = self._loop.call_at(self._started + timeout,
                                       self._on_timer)

  def _line_too_long(self) -> None:
    if self._state == _HEAD:
      if self._headers == 0 and not self._url:
        raise _HttpError(414, 'Request-URI Too Long')
      raise _HttpError(431, 'Line too long')
    what = 'trailer' if self._trailers else 'chunk-size'
    raise _HttpError(400, f'Malformed HTTP request body: {what} line longer '
                     f'than {MAX_LINE_BYTES} bytes')

  def _parser_error(self, message: str) -> None:
    if self._state == _BODY:
      if 'overflow' in message.lower():
        raise _too_large(self._server.max_body_bytes)
      raise _HttpError(400, f'Malformed HTTP request body: {message}')
    head = b''.join(self._raw or ())
    end = head.find(b'\n')
    if end < 0:
      if len(head) > MAX_LINE_BYTES:
        raise _HttpError(414, 'Request-URI Too Long')
      if self._raw is not None:  # Wait for the whole request line.
        self._parser = _LineCollector(self)
        return
      raise _HttpError(400, f'Malformed HTTP request: {message}')
    if self._raw is None:  # Pipelined after another request.
      raise _HttpError(400, f'Malformed HTTP request: {message}')
    method, target, http11 = check_request_line(head[:end + 1])
    if 'content-length' in message.lower():
      error = _content_length_error(head, self._server.max_body_bytes)
      if error is not None:
        raise error
    if self._retried:
      raise _HttpError(400, f'Malformed HTTP request: {message}')
    # A line http.server accepts but llhttp does not (HTTP/0.9, a minor
    # version above 1, a bare LF): parsed again as written by a client of
    # this century.
    self._retried = True
    self._close_after = len(head[:end].split()) == 2
    self._reset_message()
    self._new_parser()
    self._state = _IDLE
    line = f'{method} {target} HTTP/1.{int(http11)}\r\n'.encode('latin-1')
    self._feed(line + head[end + 1:])

  def _reset_message(self) -> None:
    self._url: List[bytes] = []
    self._url_bytes = 0
    self._body: List[bytes] = []
    self._body_bytes = 0
    self._headers = 0
    self._trailers = 0
    self._content_length = b''
    self._chunked = False
    self._expect_continue = False
    self._stalled = 0

  # httptools callbacks.

  def on_message_begin(self):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    self._reset_message()
    if self._state == _IDLE:  # Pipelined after another request.
      self._state = _HEAD
      self._request_started()

  def on_url(self, url: bytes):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    self._url.append(url)
    self._url_bytes += len(url)
    if self._url_bytes > MAX_LINE_BYTES:
      raise _HttpError(414, 'Request-URI Too Long')

  def on_header(self, name: bytes, value: bytes):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    if len(name) + len(value) > MAX_LINE_BYTES:
      if self._state == _BODY:
        raise _HttpError(400, 'Malformed HTTP request body: trailer line '
                         f'longer than {MAX_LINE_BYTES} bytes')
      raise _HttpError(431, 'Line too long')
    if self._state == _BODY:
      self._trailers += 1
      if self._trailers > MAX_TRAILER_LINES:
        raise _HttpError(400, 'Malformed HTTP request body: More than '
                         f'{MAX_TRAILER_LINES} trailer lines')
      return
    self._headers += 1
    if self._headers > MAX_HEADERS:
      raise _HttpError(431, 'Too many headers')
    lowered = name.lower()
    if lowered == b'content-length':
      self._content_length = value
    elif lowered == b'transfer-encoding':
      self._chunked = b'chunked' in value.lower()
    elif lowered == b'expect':
      self._expect_continue = value.strip().lower() == b'100-continue'

  def on_headers_complete(self):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    if self._parser.get_http_version() == '0.9' and self._raw is not None:
      # llhttp takes any method on a line without a version; http.server,
      # whose answers this API keeps, only GET (and closes after it).
      head = b''.join(self._raw)
      check_request_line(head[:head.find(b'\n') + 1])
      self._close_after = True
    self._state = _BODY
    self._raw = None
    self._trailers = 0
    limit = self._server.max_body_bytes
    if not self._chunked and self._content_length:
      text = self._content_length.strip()
      if len(text) > _MAX_CONTENT_LENGTH_DIGITS or int(text) > limit:
        raise _too_large(limit)
    if self._expect_continue and self._parser.get_http_version() == '1.1':
      self._transport.write(_CONTINUE)

  def on_body(self, body: bytes):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    self._body_bytes += len(body)
    if self._body_bytes > self._server.max_body_bytes:
      raise _too_large(self._server.max_body_bytes)
    self._body.append(body)

  def on_chunk_header(self):
    self._progress = True

  def on_chunk_complete(self):
    self._progress = True

  def on_message_complete(self):
    if self._state == _DONE:  # After a last request: ignored.
      return
    self._progress = True
    parser = self._parser
    request = _Request(
        parser.get_method().decode('latin-1'), b''.join(self._url).decode(
            'latin-1'), b''.join(self._body),
        parser.should_keep_alive() and not self._close_after)
    self._state = _IDLE
    self._raw = None
    self._retried = False
    self._empty_lines = 0
    if not request.keep_alive:
      self._state = _DONE  # Nothing after this request is read.
    if self._in_flight:
      self._queue.append(request)
      self._transport.pause_reading()
    else:
      self._dispatch(request)

  # ---- answering ---------------------------------------------------------------

  def _dispatch(self, request: _Request) -> None:
    self._in_flight = True
    self._answered = False
    server = self._server
    if server.request_timeout is not None:
      self._deadline_timer = self._loop.call_later(
          server.request_timeout, self._time_out)
    self._loop.create_task(self._serve(request))

  async def _serve(self, request: _Request) -> None:
    server = self._server
    try:
      code, headers, output = await server.api.handle_async(
          request.method, request.url, request.body, server.executor)
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('REST request failed')
      code, headers, output = 500, [('Content-Type', 'application/json')], (
          json_output.error(f'{type(e).__name__}: {e}'))
    if self._deadline_timer is not None:
      self._deadline_timer.cancel()
      self._deadline_timer = None
    transport = self._transport
    if transport.is_closing():
      return
    if self._answered:  # Answered 504 already: its connection ends now.
      transport.close()
      return
    self._answered = True
    close = not request.keep_alive or (self._eof and not self._queue)
    transport.write(payload(code, headers, output, close))
    self._in_flight = False
    self._last = self._loop.time()
    if close:
      transport.close()
    elif not self._write_paused:  # Else once the client reads.
      self._next()

  def _next(self) -> None:
    """Starts on the next request received, or reads on."""
    if not self._queue:
      if self._state != _DONE:
        self._transport.resume_reading()
      return
    following = self._queue.pop(0)
    if isinstance(following, _HttpError):
      self._fail(following)
      return
    self._dispatch(following)

  def _time_out(self) -> None:
    self._deadline_timer = None
    if self._answered or self._transport.is_closing():
      return
    self._answered = True
    self._state = _DONE
    timeout_ms = int(self._server.request_timeout * 1000)
    self._transport.write(_json_error(
        504, f'Request timed out after {timeout_ms} ms '
        '(--rest_api_timeout_in_ms)'))

  def _fail(self, error: _HttpError) -> None:
    """Answers a request the transport refused, then closes (lingering)."""
    if self._in_flight:  # Behind a request being answered: answered next.
      self._queue.append(error)
      self._state = _DONE
      self._transport.pause_reading()
      return
    self._transport.write(_json_error(error.code, error.message))
    self._linger()

  def _linger(self) -> None:
    """After an error answer, drains a little of what the client still
    sends: closing with unread input makes the kernel send a reset, which
    can destroy the answer before the client reads it. Bounded in bytes
    and time."""
    self._state = _LINGER
    self._queue.clear()
    transport = self._transport
    if transport.can_write_eof():
      transport.write_eof()
    if self._eof:
      transport.close()
      return
    self._loop.call_later(_LINGER_SECONDS, transport.close)

  def _reject(self) -> None:
    """Over the connection cap: 503, then close."""
    server = self._server
    self._rejected = True
    server.rejecting += 1
    if server.rejecting > _MAX_REJECTING:
      self._transport.abort()
      return
    self._transport.write(server.reject_response)
    if self._transport.can_write_eof():
      self._transport.write_eof()
    self._loop.call_later(_LINGER_SECONDS, self._transport.close)

  def _on_timer(self) -> None:
    """Idle and arrival bounds, checked by one timer per connection."""
    self._timer = None
    if self._transport.is_closing() or self._state == _LINGER:
      return
    server = self._server
    now = self._loop.time()
    due = self._last + server.idle_timeout
    receiving = self._state in (_HEAD, _BODY)
    if self._write_paused:
      if now >= due:  # The client does not read its answer.
        self._transport.abort()
        return
    elif self._in_flight and not receiving:
      due = now + server.idle_timeout  # The request timeout bounds it.
    elif now >= due:
      self._idle_expired()
      return
    if receiving and server.request_timeout is not None:
      arrival_due = self._started + server.request_timeout
      if now >= arrival_due:
        timeout_ms = int(server.request_timeout * 1000)
        self._fail(_HttpError(408, f'Request timed out: not received whole '
                              f'within {timeout_ms} ms '
                              '(--rest_api_timeout_in_ms)'))
        return
      due = min(due, arrival_due)
    self._timer = self._loop.call_at(due, self._on_timer)

  def _idle_expired(self) -> None:
    started_line = self._state == _BODY or (
        self._state == _HEAD and (self._raw is None or
                                  b'\n' in b''.join(self._raw)))
    if not started_line:  # Between requests, or an unfinished first line.
      self._transport.close()
      return
    timeout_ms = int(self._server.idle_timeout * 1000)
    what = 'body' if self._state == _BODY else 'headers'
    self._fail(_HttpError(408, f'Request timed out: no data for {timeout_ms} '
                          f'ms while reading its {what} '
                          '(--rest_api_idle_timeout_in_ms)'))


class _LineCollector:
  """Stands in for the parser after it refused an unfinished request line:
  collects the line, then answers it as http.server would."""

  def __init__(self, connection: _Connection):
    self._connection = connection

  def feed_data(self, data: bytes) -> None:
    del data  # Already in the connection's raw head.
    connection = self._connection
    head = b''.join(connection._raw)  # pylint: disable=protected-access
    if b'\n' in head:
      connection._new_parser()  # pylint: disable=protected-access
      connection._parser_error('invalid request line')  # pylint: disable=protected-access
    elif len(head) > MAX_LINE_BYTES:
      raise httptools.HttpParserError('request line too long')

  @staticmethod
  def get_http_version() -> str:
    return '1.1'


class RestServer:
  """Serves a RestApi on host:port on the shared event loop.

  Args:
    api: the RestApi.
    loop: the serving.event_loop.EventLoop.
    host, port: where to listen (the socket is bound here, in __init__).
    max_body_bytes: larger bodies get 413.
    max_connections: connections open at once; more get 503.
    idle_timeout: seconds a connection may stay silent.
    request_timeout: seconds a request may take to arrive (else 408) and
      to run (else 504); None: unbounded.
    executor: threads for the REST calls that block (--rest_api_num_threads).
  """

  def __init__(self, api, loop, host: str, port: int, max_body_bytes: int,
               max_connections: int, idle_timeout: float = 30.0,
               request_timeout: Optional[float] = None, executor=None):
    try:
      self._socket = socket.create_server((host, port), backlog=1024)
    except OSError as e:
      raise status.ServingError(
          status.UNAVAILABLE,
          f'Failed to start HTTP Server at {host}:{port}: {e}') from None
    self._socket.setblocking(False)
    self.api = api
    self.loop = loop
    self.port = self._socket.getsockname()[1]
    self.max_body_bytes = max_body_bytes
    self.max_connections = max_connections
    self.idle_timeout = idle_timeout
    self.request_timeout = request_timeout
    self.executor = executor
    self.open = 0
    self.accepted = 0  # Every connection so far, refused ones included.
    self.rejecting = 0
    self.connections = set()
    self.reject_response = _json_error(
        503, f'Too many connections: at most {max_connections} are open at '
        'once (--rest_api_max_connections); retry later',
        [('Retry-After', '1')])
    self._server = None

  @property
  def open_connections(self) -> int:
    """Connections open now (those over the cap, being refused, aside)."""
    return self.open

  def start(self) -> None:
    async def serve():
      return await self.loop.loop.create_server(
          lambda: _Connection(self), sock=self._socket)
    self._server = self.loop.run(serve())

  def stop(self) -> None:
    """Stops listening and ends every connection; safe if never started."""
    if self._server is None:
      self._socket.close()
      return

    async def close():
      self._server.close()
      for connection in list(self.connections):
        transport = connection._transport  # pylint: disable=protected-access
        if transport is not None:
          transport.abort()
    try:
      self.loop.run(close(), timeout=10)
    except Exception:  # pylint: disable=broad-except
      logging.debug('REST server stop', exc_info=True)
