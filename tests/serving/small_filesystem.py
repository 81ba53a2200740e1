"""A small real filesystem for tests of a full disk: tmpfs, mounted by the test.

A full disk is made, not faked: `mounted(path, size)` mounts a tmpfs of
`size` bytes on `path` (root only; CI runs as root, and a skip there is a
failure, see tests/ci_no_skip.py), and `fill(path)` writes a filler file
until the kernel says ENOSPC.
"""

import contextlib
import errno
import os
import subprocess

import pytest


@contextlib.contextmanager
def mounted(path, size: int):
  """A tmpfs of `size` bytes on `path` (created), unmounted on exit."""
  if os.geteuid() != 0:
    pytest.skip('mounting a tmpfs needs root (CI runs as root)')
  os.makedirs(path, exist_ok=True)
  done = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                         'tmpfs', str(path)], capture_output=True, text=True,
                        check=False)
  if done.returncode:
    raise RuntimeError(f'mounting a tmpfs on {path} failed (root without '
                       f'CAP_SYS_ADMIN?): {done.stderr.strip()}')
  try:
    yield str(path)
  finally:
    # Lazy: a writer thread may still hold a file open at teardown.
    subprocess.run(['umount', '-l', str(path)], check=False)


def fill(path) -> str:
  """Writes `path`/filler until the disk is full; returns the filler's path."""
  filler = os.path.join(str(path), 'filler')
  fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
  try:
    chunk = b'\0' * 4096
    while True:
      try:
        written = os.write(fd, chunk)
      except OSError as e:
        if e.errno != errno.ENOSPC:
          raise
        break
      if written < len(chunk):
        chunk = chunk[:len(chunk) - written] or b'\0'
  finally:
    os.close(fd)
  return filler
