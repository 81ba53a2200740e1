"""The REST transport against hostile clients (issue 16's findings).

Each test speaks raw HTTP/1.1 over a loopback socket to a real server, so
what is checked is what a client on the wire sees: the body limit holds for
chunked bodies, chunk and trailer lines are bounded, connections are capped
and idle ones are closed (a stalled request after a 408), every request line
gets a status line, over-long JSON integers are a 400, and
--rest_api_timeout_in_ms bounds a request without batching.

No test sleeps or times the server: each waits for what the server does (an
answer, a closed connection), with a deadline far beyond the timeouts under
test, so only a broken bound fails them.
"""

import http.client
import json
import select
import socket
import threading

import pytest

from serving_helpers import HOST, call, deploy, wait_for, write_gate_model

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
    return _read_to_end(sock)


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


def _content_length_head(length: bytes) -> bytes:
  return (b'POST ' + HPT.encode() + b':predict HTTP/1.1\r\nHost: x\r\n'
          b'Content-Length: ' + length + b'\r\n\r\n')


@pytest.mark.parametrize('length', [b'-5', b'+20', b'abc', b'1 2'])
def test_malformed_content_length_is_400(small_limit_server, length):
  response = _request(small_limit_server.rest_port,
                      _content_length_head(length), VALID)
  assert _status(response) == 400
  assert _json_body(response) == {
      'error': 'Malformed HTTP request body: Invalid Content-Length '
               f'{length.decode()!r}'}


def test_content_length_beyond_any_body_is_413_unread(small_limit_server):
  # 30 digits: well-formed, but more than any int64 (and the 1,000-byte
  # limit), so it is refused unread like any body over the limit.
  response = _request(small_limit_server.rest_port,
                      _content_length_head(b'1' * 30), VALID)
  assert _status(response) == 413
  assert _json_body(response) == {
      'error': 'Request body larger than the limit of 1000 bytes'}


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


def _read_to_end(sock: socket.socket) -> bytes:
  """Everything until the server closes; socket.timeout if it never does."""
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


def test_open_connections_are_capped_and_cost_no_thread(hpt_base,
                                                        start_server):
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        rest_api_max_connections=4,
                        file_system_poll_wait_seconds=0)
  threads_before = threading.active_count()
  # Four keep-alive clients, each answered once: the server has accepted
  # them (no guess at how long accepting takes).
  held = []
  try:
    for _ in range(4):
      conn = http.client.HTTPConnection(HOST, server.rest_port, timeout=30)
      held.append(conn)
      conn.request('GET', HPT)
      response = conn.getresponse()
      assert response.status == 200 and not response.will_close
      response.read()
    # Over the cap: a 503 with a JSON error.
    answers = []
    for _ in range(20):
      with socket.create_connection((HOST, server.rest_port),
                                    timeout=30) as sock:
        sock.sendall(b'GET ' + HPT.encode() +
                     b' HTTP/1.1\r\nHost: x\r\n\r\n')
        answers.append(_read_to_end(sock))
    assert [_status(a) for a in answers] == [503] * 20, answers[0]
    assert _json_body(answers[0]) == {
        'error': 'Too many connections: at most 4 are open at once '
                 '(--rest_api_max_connections); retry later'}
    # Open connections live on the event loop: none has a thread.
    assert threading.active_count() <= threads_before
  finally:
    for conn in held:
      conn.close()

  # Slots free up once the held clients leave.
  def served():
    try:
      return call(server.rest_port, 'GET', HPT, timeout=30)[0] == 200
    except OSError:
      return False
  wait_for(served, timeout=60)


# The client-side deadline for something the server must do after an idle
# timeout of 300 ms: far beyond it, and below the 30 s default timeout, so
# only a server that ignores the flag (or never closes) reaches it.
_IDLE_MS = 300
_CLIENT_DEADLINE = 20.0


@pytest.fixture
def idle_server(hpt_base, start_server):
  return start_server(model_name='hpt', model_base_path=hpt_base,
                      rest_api_idle_timeout_in_ms=_IDLE_MS,
                      file_system_poll_wait_seconds=0)


def test_idle_connections_are_closed(idle_server):
  port = idle_server.rest_port
  # A connection that never sends a byte is closed without an answer (there
  # is no request to answer): EOF, not a timeout of the client's recv.
  with socket.create_connection((HOST, port),
                                timeout=_CLIENT_DEADLINE) as sock:
    assert _read_to_end(sock) == b''
  # A keep-alive connection that goes quiet after a request is closed too,
  # after its one answer.
  with socket.create_connection((HOST, port),
                                timeout=_CLIENT_DEADLINE) as sock:
    sock.sendall(b'GET ' + HPT.encode() + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    response = _read_to_end(sock)
  assert _status(response) == 200
  assert response.count(b'HTTP/1.1 ') == 1
  assert _json_body(response)['model_version_status'][0]['state'] == (
      'AVAILABLE')


@pytest.mark.parametrize('partial,what', [
    (b'GET /v1/models/hpt HTTP/1.1\r\n', 'headers'),
    (b'GET /v1/models/hpt HTTP/1.1\r\nHost:', 'headers'),
    (b'POST /v1/models/hpt:predict HTTP/1.1\r\nContent-Length: 20\r\n\r\n'
     b'{"inst', 'body'),
    (b'POST /v1/models/hpt:predict HTTP/1.1\r\nTransfer-Encoding: chunked'
     b'\r\n\r\n14\r\n{"inst', 'body')])
def test_a_request_that_stalls_is_cut_off_with_408(idle_server, partial,
                                                   what):
  # The client stops mid-request and waits: the server answers 408 once
  # the connection has been silent for the idle timeout, then closes.
  with socket.create_connection((HOST, idle_server.rest_port),
                                timeout=_CLIENT_DEADLINE) as sock:
    sock.sendall(partial)
    response = _read_to_end(sock)
  assert _status(response) == 408, response[:300]
  assert b'Connection: close' in response
  assert _json_body(response) == {
      'error': f'Request timed out: no data for {_IDLE_MS} ms while reading '
               f'its {what} (--rest_api_idle_timeout_in_ms)'}


@pytest.fixture(scope='module')
def gate_base(tmp_path_factory):
  base = tmp_path_factory.mktemp('gate') / 'gate'
  write_gate_model(str(base), 1)
  return str(base)


def test_rest_timeout_bounds_a_request_without_batching(gate_base, tmp_path,
                                                        start_server):
  # 1 s is 500 times what a call of this model takes when its gate is open;
  # a call whose gate stays shut runs until the test opens it.
  server = start_server(model_name='gate', model_base_path=gate_base,
                        rest_api_timeout_in_ms=1000,
                        file_system_poll_wait_seconds=0)
  path = '/v1/models/gate:predict'
  gate = str(tmp_path / 'open')
  assert call(server.rest_port, 'POST', path, {'instances': ['']}) == (
      200, {'predictions': ['']})
  try:
    # Before the fix: no answer until the call ended on its own.
    code, body = call(server.rest_port, 'POST', path, {'instances': [gate]})
    assert (code, body) == (504, {
        'error': 'Request timed out after 1000 ms (--rest_api_timeout_in_ms)'})
  finally:
    open(gate, 'w').close()  # The held call finishes in the background.
  # The server keeps serving.
  assert call(server.rest_port, 'POST', path, {'instances': [gate]}) == (
      200, {'predictions': [gate]})


@pytest.mark.parametrize('request_line,code,error', [
    (b' /v1/models/hpt:predict HTTP/1.1', 400,  # Found by the fuzzer.
     "Bad HTTP/0.9 request type ('/v1/models/hpt:predict')"),
    (b'POST /v1/models/hpt:predict', 400,
     "Bad HTTP/0.9 request type ('POST')"),
    (b'GET', 400, "Bad request syntax ('GET')"),
    (b'A B C D', 400, "Bad request version ('D')"),
    (b'GET /v1/models/hpt HTTP/9.9', 505, 'Invalid HTTP version (9.9)'),
    (b'GET /' + b'a' * 70_000 + b' HTTP/1.1', 414, 'Request-URI Too Long'),
    # Found by the fuzzer: a blank request line was closed unanswered.
    (b'\x0b', 400, 'Bad request syntax: empty request line'),
    (b'\n\xf1 /x \n', 400, "Bad HTTP/0.9 request type ('\xf1')"),
    (b'\r\n' * 101 + b'GET /v1/models/hpt HTTP/1.1', 400,
     'Bad request syntax: empty request line')])
def test_protocol_errors_are_json_with_a_status_line(small_limit_server,
                                                     request_line, code,
                                                     error):
  # Before: a two-word request line got a bare HTML page, no status line.
  response = _request(small_limit_server.rest_port,
                      request_line + b'\r\n\r\n')
  assert _status(response) == code, response[:300]
  assert b'Content-Type: application/json' in response
  assert _json_body(response) == {'error': error}


def test_empty_lines_before_a_request_line_are_skipped(small_limit_server):
  # RFC 9112 section 2.2; before, an empty line closed the connection.
  response = _request(small_limit_server.rest_port,
                      b'\r\n\n\r\nGET ' + HPT.encode() +
                      b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  assert _status(response) == 200
  assert _json_body(response)['model_version_status'][0]['state'] == (
      'AVAILABLE')


def test_idle_connections_cost_no_thread_and_lock_nobody_out(hpt_base,
                                                             start_server):
  # Issue 27: 300 idle connections (connected, sending nothing) took the
  # thread-per-connection server from 22 to 277 threads and locked every
  # other client out (its cap was 256 connections).
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        file_system_poll_wait_seconds=0)
  predict = (server.rest_port, 'POST', HPT + ':predict',
             {'instances': [1.0]})
  # A first predict starts the thread that runs unbatched models.
  assert call(*predict) == (200, {'predictions': [2.5]})
  threads_before = threading.active_count()
  idle = []
  try:
    for _ in range(300):
      idle.append(socket.create_connection((HOST, server.rest_port),
                                           timeout=30))
    assert call(*predict) == (200, {'predictions': [2.5]})
    wait_for(lambda: server.rest_server.open_connections >= 300, timeout=60)
    assert threading.active_count() <= threads_before
  finally:
    for sock in idle:
      sock.close()


def test_a_request_trickling_in_is_cut_off_by_the_request_timeout(
    hpt_base, start_server):
  # A byte every 50 ms keeps the idle timeout (30 s) from firing; the
  # request must still arrive whole within --rest_api_timeout_in_ms.
  server = start_server(model_name='hpt', model_base_path=hpt_base,
                        rest_api_timeout_in_ms=500,
                        file_system_poll_wait_seconds=0)
  head = (b'POST ' + HPT.encode() + b':predict HTTP/1.1\r\nHost: x\r\n'
          b'Content-Length: 100000\r\n\r\n')
  with socket.create_connection((HOST, server.rest_port),
                                timeout=_CLIENT_DEADLINE) as sock:
    sock.sendall(head)
    answer = b''
    for _ in range(1200):  # At most 60 s of trickling.
      try:
        sock.sendall(b' ')
      except OSError:
        break  # Closed by the server.
      readable, _, _ = select.select([sock], [], [], 0.05)
      if readable:
        answer = _read_to_end(sock)
        break
  assert _status(answer) == 408, answer[:300]
  assert _json_body(answer) == {
      'error': 'Request timed out: not received whole within 500 ms '
               '(--rest_api_timeout_in_ms)'}
  assert call(server.rest_port, 'GET', HPT)[0] == 200


def test_a_client_that_never_reads_its_answers_is_cut_off(conformance_models,
                                                          start_server):
  # 20,000 pipelined requests for the metrics page (about 1 KB each: 20 MB
  # of answers, more than the kernel's socket buffers hold), never read:
  # once the buffers are full the server stops answering, and after the
  # idle timeout it drops the connection; others are served meanwhile.
  server = start_server(**conformance_models,
                        rest_api_idle_timeout_in_ms=_IDLE_MS)
  port = server.rest_port
  request = b'GET /monitoring/prometheus/metrics HTTP/1.1\r\nHost: x\r\n\r\n'
  sock = socket.socket()
  try:
    # A small receive window, so the kernel holds little on this side.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(_CLIENT_DEADLINE)
    sock.connect((HOST, port))
    try:
      sock.sendall(request * 20000)
    except OSError:
      pass  # Dropped by the server before it read everything.
    rest = server.rest_server
    wait_for(lambda: rest.accepted == 1 and rest.open_connections == 0,
             timeout=60)
    assert call(port, 'GET', '/v1/models/half_plus_two')[0] == 200
    received = _read_to_end(sock)
  finally:
    sock.close()
  assert received.count(b'HTTP/1.1 200 OK') < 20000
