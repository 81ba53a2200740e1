"""The HTTP/1.1 transport of the REST API (standard library only).

Python's ThreadingHTTPServer, one thread per keep-alive connection, tuned for
latency: responses are written in one send with TCP_NODELAY (no Nagle /
delayed-ACK stalls), bodies may be chunked, oversized bodies are refused with
413 before being read, and idle connections are closed on shutdown.
"""

import http.server
import logging
import socket
import threading
from typing import Optional

from serving import json_output
from serving import status

class _Handler(http.server.BaseHTTPRequestHandler):
  """HTTP/1.1 keep-alive transport for RestApi."""

  protocol_version = 'HTTP/1.1'
  server_version = 'TensorFlowServing-compatible'
  timeout = 300  # Idle keep-alive connections are closed after this.

  def setup(self):
    super().setup()
    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with self.server.lock:
      self.server.connections.add(self.connection)

  def finish(self):
    with self.server.lock:
      self.server.connections.discard(self.connection)
    super().finish()

  def _read_body(self) -> Optional[bytes]:
    limit = self.server.max_body_bytes
    if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
      chunks, total = [], 0
      while True:
        size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
        if size == 0:
          while self.rfile.readline() not in (b'\r\n', b'\n', b''):
            pass
          return b''.join(chunks)
        total += size
        if total > limit:
          return None
        chunks.append(self.rfile.read(size))
        self.rfile.readline()
    length = int(self.headers.get('Content-Length') or 0)
    if length < 0:
      raise ValueError('negative Content-Length')
    if length > limit:
      return None
    return self.rfile.read(length) if length else b''

  def _respond(self, code: int, headers, body: str) -> None:
    payload = body.encode('utf-8')
    lines = [f'HTTP/1.1 {code} {self.responses.get(code, ("",))[0]}']
    lines += [f'{k}: {v}' for k, v in headers]
    lines.append(f'Content-Length: {len(payload)}')
    if self.close_connection:
      lines.append('Connection: close')
    self.wfile.write(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') +
                     payload)

  def _serve(self, method: str) -> None:
    try:
      body = self._read_body()
    except (ValueError, OSError):
      self.close_connection = True
      self._respond(400, [('Content-Type', 'application/json')],
                    json_output.error('Malformed HTTP request body'))
      return
    if body is None:
      self.close_connection = True  # The unread body makes the stream unusable.
      self._respond(413, [('Content-Type', 'application/json')],
                    json_output.error(
                        'Request body larger than the limit of '
                        f'{self.server.max_body_bytes} bytes'))
      return
    code, headers, output = self.server.api.handle(method, self.path, body)
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


class _Server(http.server.ThreadingHTTPServer):
  daemon_threads = True
  allow_reuse_address = True
  request_queue_size = 128

  def __init__(self, *args, **kwargs):
    self.lock = threading.Lock()
    self.connections = set()
    super().__init__(*args, **kwargs)

  def close_connections(self) -> None:
    """Ends idle keep-alive connections, whose threads would linger."""
    with self.lock:
      connections = list(self.connections)
    for connection in connections:
      try:
        connection.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass

  def handle_error(self, request, client_address):
    logging.debug('Connection from %s dropped', client_address,
                  exc_info=True)


class RestServer:
  """Runs a RestApi on host:port in a background thread."""

  def __init__(self, api, host: str, port: int,
               max_body_bytes: int):
    try:
      self._server = _Server((host, port), _Handler)
    except OSError as e:
      raise status.ServingError(
          status.UNAVAILABLE,
          f'Failed to start HTTP Server at {host}:{port}: {e}') from None
    self._server.api = api
    self._server.max_body_bytes = max_body_bytes
    self.port = self._server.server_address[1]
    self._thread = threading.Thread(target=self._server.serve_forever,
                                    kwargs={'poll_interval': 0.2},
                                    daemon=True, name='rest_api')

  def start(self) -> None:
    self._thread.start()

  def stop(self) -> None:
    self._server.shutdown()
    self._server.server_close()
    self._server.close_connections()
    self._thread.join(timeout=10)
