"""An A/B test from the client side: each complaint to `stable` or `canary`.

The split is by a hash of the Complaint ID, not at random, so it is the
same on every run and a complaint always meets the same version, whichever
process sends it; the feedback join can then attribute each outcome to one
arm. Each arm is scored by the bulk scorer against its version label, and
the arms' rows are joined into one output file.
"""

import hashlib
import os
import shutil
from typing import Any, Dict, Mapping, Optional, Sequence

from serving.client_bulk import score_complaints
from serving.client_progress import Progress
from serving.client_protocols import make_client
from serving.client_request_log import ClientRequestLog


def is_canary(complaint_id: str, share: float) -> bool:
  """Whether a complaint goes to the canary: a hash of its ID, so the split
  is the same on every run and a complaint always meets one version."""
  digest = hashlib.sha256(complaint_id.encode('utf-8')).digest()
  return int.from_bytes(digest[:4], 'big') < share * 2**32


def score_ab(protocol: str, ids: Sequence[str],
             rows: Sequence[Mapping[str, str]], out: str, share: float,
             batch_size: int = 64, progress: Optional[Progress] = None,
             request_log: Optional[ClientRequestLog] = None,
             **client_options) -> Dict[str, Any]:
  """Both arms of an A/B test, each to its label; one output file.

  `share` of the complaints (by is_canary) go to the label canary, the rest
  to stable; client_options are make_client's (host, port, model_name,
  timeout). Returns score_complaints' summary for both arms together, with
  `canary_share` and each label's `rows`, `sent` and `model_versions`.
  """
  arms = {'stable': ([], []), 'canary': ([], [])}
  for complaint_id, row in zip(ids, rows):
    arm = arms['canary' if is_canary(complaint_id, share) else 'stable']
    arm[0].append(complaint_id)
    arm[1].append(row)
  # An arm without complaints is not called; with none at all, stable
  # scores the empty set (a header-only file, a summary of zeros), as
  # score_complaints does without a split.
  called = [label for label, (arm_ids, _) in arms.items() if arm_ids] or [
      'stable']
  parts, summaries = [], {}
  try:
    for label, (arm_ids, arm_rows) in arms.items():
      if label not in called:
        continue
      client = make_client(protocol, label=label, **client_options)
      part = f'{out}.{label}.part'
      parts.append(part)
      try:
        summaries[label] = score_complaints(client, arm_ids, arm_rows, part,
                                            batch_size, None, request_log)
      finally:
        client.close()
      if progress is not None:
        progress.update(sum(s['sent'] + s['failed']
                            for s in summaries.values()),
                        sum(s['failed'] for s in summaries.values()))
    if progress is not None:
      progress.close()
    temp = f'{out}.{os.getpid()}.tmp'
    with open(temp, 'w', newline='', encoding='utf-8') as joined:
      for index, part in enumerate(parts):
        with open(part, newline='', encoding='utf-8') as f:
          header = f.readline()
          if index == 0:
            joined.write(header)
          shutil.copyfileobj(f, joined)
    os.replace(temp, out)
  finally:
    for part in parts:
      if os.path.exists(part):
        os.unlink(part)
  versions: Dict[str, int] = {}
  for found in summaries.values():
    for version, count in found['model_versions'].items():
      versions[version] = versions.get(version, 0) + count
  first = next(iter(summaries.values()))
  return {
      'sent': sum(s['sent'] for s in summaries.values()),
      'failed': sum(s['failed'] for s in summaries.values()),
      'rows': len(rows),
      'batches': sum(s['batches'] for s in summaries.values()),
      'failed_batches': sum(s['failed_batches'] for s in summaries.values()),
      'model_version': max(versions, key=versions.get) if versions else None,
      'model_versions': versions, 'model_name': first['model_name'],
      'protocol': first['protocol'], 'out': os.path.abspath(out),
      'errors': [e for s in summaries.values() for e in s['errors']][:5],
      'seconds': round(sum(s['seconds'] for s in summaries.values()), 3),
      'canary_share': share,
      'labels': {label: {'rows': s['rows'], 'sent': s['sent'],
                         'model_versions': s['model_versions']}
                 for label, s in summaries.items()}}
