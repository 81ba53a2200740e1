"""The REST transport against hostile clients (issue 16's findings).

Each test speaks raw HTTP/1.1 over a loopback socket to a real server, so
what is checked is what a client on the wire sees: the body limit holds for
chunked bodies, chunk and trailer lines are bounded, connections are capped
and idle ones are closed, over-long JSON integers are a 400, and
--rest_api_timeout_in_ms bounds a request without batching.
"""

import json
import socket
import threading
import time

import pytest

from serving_helpers import HOST, call, deploy
from serving import example_models

HPT = '/v1/models/hpt'
VALID = b'{"instances": [1.0]}'


def _request(port, head: bytes, body: bytes = b'', shut_write=True,
             timeout=10.0) -> bytes:
  """Sends raw bytes, half-closes, returns everything the server answered."""
  with socket.create_connection((HOST, port), timeout=timeout) as sock:
    try:
      sock.sendall(head + body)
      if shut_write:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
      pass  # The server answered and closed before reading it all.
    chunks = []
    while True:
      try:
        data = sock.recv(65536)
      except ConnectionResetError:
        break
      if not data:
        break
      chunks.append(data)
  return b''.join(chunks)


def _status(response: bytes) -> int:
  assert response.startswith(b'HTTP/1.1 '), response[:200]
  return int(response.split(b' ', 2)[1])


def _json_body(response: bytes) -> dict:
  return json.loads(response.split(b'\r\n\r\n', 1)[1])


def _chunked_head(path=HPT + ':predict') -> bytes:
  return (f'POST {path} HTTP/1.1\r\nHost: x\r\n'
          'Transfer-Encoding: chunked\r\n\r\n').encode()


@pytest.fixture(scope='module')
def hpt_base(models, tmp_path_factory):
  base = tmp_path_factory.mktemp('hardening') / 'hpt'
  deploy(models['hpt_v1'], base, 1)
  return str(base)


@pytest.fixture
def small_limit_server(hpt_base, start_server):
  return start_server(model_name='hpt', model_base_path=hpt_base,
                      rest_api_max_body_bytes=1000,
                      file_system_poll_wait_seconds=0)


def test_chunked_body_within_the_limit_is_served(small_limit_server):
  body = b'%x\r\n%s\r\n0\r\n\r\n' % (len(VALID), VALID)
  response = _request(small_limit_server.rest_port, _chunked_head(), body)
  assert _status(response) == 200
  assert _json_body(response) == {'predictions': [2.5]}


def test_negative_chunk_size_cannot_bypass_the_body_limit(small_limit_server):
  # Before the fix, "-1" read the stream to its end: a 5,000-byte body
  # reached the handler (HTTP 200) with the limit at 1,000 bytes.
  padded = VALID + b' ' * 5000
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      b'-1\r\n' + padded)
  assert _status(response) == 400
  assert 'chunk' in _json_body(response)['error']


@pytest.mark.parametrize('size_line', [b'+14', b'0x14', b' 14 x', b'1_4',
                                       b''])
def test_malformed_chunk_sizes_are_400(small_limit_server, size_line):
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      size_line + b'\r\n' + VALID + b'\r\n0\r\n\r\n')
  assert _status(response) == 400


def test_huge_chunk_size_is_413_without_reading(small_limit_server):
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      b'f' * 40 + b'\r\n' + VALID, shut_write=False)
  assert _status(response) == 413


def test_chunk_line_length_is_bounded(small_limit_server):
  # A valid 20-byte chunk whose size line carries a 200 KB extension.
  line = b'14;ext=' + b'x' * 200_000 + b'\r\n'
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      line + VALID + b'\r\n0\r\n\r\n')
  assert _status(response) == 400
  assert 'line' in _json_body(response)['error']


def test_trailer_line_length_and_count_are_bounded(small_limit_server):
  chunk = b'14\r\n' + VALID + b'\r\n0\r\n'
  long_trailer = b'X-T: ' + b'a' * 200_000 + b'\r\n\r\n'
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      chunk + long_trailer)
  assert _status(response) == 400
  many_trailers = b'X-T: a\r\n' * 10_000 + b'\r\n'
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      chunk + many_trailers)
  assert _status(response) == 400
  # The server still answers afterwards.
  assert call(small_limit_server.rest_port, 'POST', HPT + ':predict',
              {'instances': [1.0]}) == (200, {'predictions': [2.5]})


def test_truncated_chunk_is_400(small_limit_server):
  response = _request(small_limit_server.rest_port, _chunked_head(),
                      b'14\r\n' + VALID[:5])
  assert _status(response) == 400


@pytest.mark.parametrize('length', [b'-5', b'+20', b'1' * 30, b'abc'])
def test_malformed_content_length_is_400(small_limit_server, length):
  head = (b'POST ' + HPT.encode() + b':predict HTTP/1.1\r\nHost: x\r\n'
          b'Content-Length: ' + length + b'\r\n\r\n')
  response = _request(small_limit_server.rest_port, head, VALID)
  assert _status(response) in (400, 413)


def test_json_integer_over_4300_digits_is_400(conformance_server):
  # Before the fix: HTTP 500 with Python's int-conversion error text.
  port = conformance_server.rest_port
  path = '/v1/models/half_plus_two'
  for method, body in (
      (':predict', b'{"instances": [' + b'1' * 5000 + b']}'),
      (':predict', b'{"instances": [-' + b'9' * 5000 + b']}'),
      (':predict', b'{"inputs": {"x": [1.0]}, "y": ' + b'7' * 5000 + b'}'),
      (':regress', b'{"examples": [{"x": ' + b'7' * 5000 + b'}]}')):
    code, payload = call(port, 'POST', path + method, body)
    assert code == 400, payload
    assert payload['error'].startswith('JSON Parse error: Number too big')
    assert '\n' not in payload['error'] and 'Traceback' not in payload['error']


def _idle_connections(port, count):
  sockets = []
  for _ in range(count):
    sockets.append(socket.create_connection((HOST, port), timeout=10))
  return sockets


def test_connections_are_capped(hpt_base, start_server):
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        rest_api_num_threads=4,
                        file_system_poll_wait_seconds=0)
  threads_before = threading.active_count()
  idle = _idle_connections(server.rest_port, 4)
  try:
    time.sleep(0.3)  # Let the server accept them.
    # Over the cap: an immediate 503 with a JSON error, no new thread.
    extra = _idle_connections(server.rest_port, 20)
    answers = []
    for sock in extra:
      sock.sendall(b'GET ' + HPT.encode() + b' HTTP/1.1\r\nHost: x\r\n\r\n')
      answers.append(sock.recv(65536))
      sock.close()
    assert all(_status(a) == 503 for a in answers), answers[0]
    assert 'rest_api_num_threads' in _json_body(answers[0])['error']
    # One connection-handling thread per capped connection, plus at most
    # the server's two helper threads (rejector, timeout watchdog).
    assert threading.active_count() <= threads_before + 4 + 2
  finally:
    for sock in idle:
      sock.close()
  # Slots free up once the idle clients leave.
  def served():
    try:
      return call(server.rest_port, 'GET', HPT, timeout=2)[0] == 200
    except OSError:
      return False
  deadline = time.monotonic() + 10
  while not served():
    assert time.monotonic() < deadline, 'slots never freed'
    time.sleep(0.1)


def test_idle_connections_are_closed(hpt_base, start_server):
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        rest_api_idle_timeout_in_ms=300,
                        file_system_poll_wait_seconds=0)
  with socket.create_connection((HOST, server.rest_port), timeout=10) as sock:
    start = time.monotonic()
    assert sock.recv(1) == b''  # The server closed the idle connection.
    assert time.monotonic() - start < 5
  # A keep-alive connection that goes quiet after a request is closed too.
  with socket.create_connection((HOST, server.rest_port), timeout=10) as sock:
    sock.sendall(b'GET ' + HPT.encode() + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    data = b''
    while b'"AVAILABLE"' not in data:
      data += sock.recv(65536)
    start = time.monotonic()
    while sock.recv(65536):
      pass
    assert time.monotonic() - start < 5


def test_slow_header_is_cut_off(hpt_base, start_server):
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        rest_api_idle_timeout_in_ms=300,
                        file_system_poll_wait_seconds=0)
  with socket.create_connection((HOST, server.rest_port), timeout=10) as sock:
    sock.sendall(b'GET ' + HPT.encode() + b' HTTP/1.1\r\n')
    time.sleep(1.0)  # Longer than the idle timeout between two bytes.
    try:
      sock.sendall(b'Host: x\r\n\r\n')
      data = sock.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
      data = b''
    assert b'200 OK' not in data


@pytest.fixture(scope='module')
def slow_base(tmp_path_factory):
  base = tmp_path_factory.mktemp('slow') / 'slow'
  example_models.write_slow_model(str(base), 1)
  return str(base)


def test_rest_timeout_bounds_a_request_without_batching(slow_base,
                                                        start_server):
  server = start_server(model_name='slow', model_base_path=slow_base,
                        rest_api_timeout_in_ms=300,
                        file_system_poll_wait_seconds=0)
  assert call(server.rest_port, 'POST', '/v1/models/slow:predict',
              {'instances': [0.0]}) == (200, {'predictions': [0.0]})
  start = time.monotonic()
  code, body = call(server.rest_port, 'POST', '/v1/models/slow:predict',
                    {'instances': [3.0]})
  elapsed = time.monotonic() - start
  assert code == 504, body
  assert 'rest_api_timeout_in_ms' in body['error']
  assert elapsed < 2.5  # Before the fix: 200 after the full 3 s.
  # The server keeps serving (the spinning call finishes on its own).
  assert call(server.rest_port, 'POST', '/v1/models/slow:predict',
              {'instances': [0.0]}) == (200, {'predictions': [0.0]})


@pytest.mark.parametrize('request_line', [
    b' /v1/models/hpt:predict HTTP/1.1',  # Found by the fuzzer.
    b'POST /v1/models/hpt:predict', b'GET', b'A B C D',
    b'GET /v1/models/hpt HTTP/9.9', b'GET /' + b'a' * 70_000 + b' HTTP/1.1'])
def test_protocol_errors_are_json_with_a_status_line(small_limit_server,
                                                     request_line):
  # Before: a two-word request line got a bare HTML page, no status line.
  response = _request(small_limit_server.rest_port,
                      request_line + b'\r\n\r\n')
  assert 400 <= _status(response) < 600
  assert b'Content-Type: application/json' in response
  assert 'error' in _json_body(response)
