"""Bulk scoring: every row of a CFPB export, in batches, with its join key.

Each row goes to `serving_default` as a serialized tf.Example, over gRPC (a
string tensor) or REST (`{"b64": ...}`). Each Example carries the row's
`Complaint ID` as one more bytes feature, `complaint_id`: the join key with
the feedback that arrives later. The model's tf.io.parse_example reads
only the features of its spec and ignores others, so no model change is
needed, the request stays a plain TF Serving request, and the ID travels
inside the request that the server logs (PredictionLog). A batch the server
rejects is counted and skipped, so one bad batch does not lose a long run.
"""

import csv
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from components import features
from serving.client_inputs import OUTPUT_KEY, serialized_examples
from serving.client_progress import Progress
from serving.client_request_log import ClientRequestLog
from serving.client_rest import RestClient
from serving.client_types import ClientError, UsageError


def read_complaints(path: str):
  """(Complaint IDs, raw feature rows) of a CFPB export CSV.

  Raises UsageError for a file that cannot be read, is not in the export
  layout, or has a row without a Complaint ID (the join key).
  """
  from data import cfpb_export  # pylint: disable=g-import-not-at-top
  try:
    frame = cfpb_export.read_export(path)
  except OSError as e:
    raise UsageError(f'--complaints: cannot read {path}: '
                     f'{e.strerror or e}') from None
  except cfpb_export.ExportFormatError as e:
    raise UsageError(f'--complaints: {e}') from None
  ids = [str(v).strip() for v in frame[features.ID_EXPORT_COLUMN]]
  missing = [i for i, v in enumerate(ids, start=1) if not v]
  if missing:
    raise UsageError(
        f'--complaints: {path}: {len(missing)} row(s) without a '
        f'{features.ID_EXPORT_COLUMN} (the join key for feedback), first: '
        f'data row {missing[0]}')
  columns = {column: list(frame[column])
             for column in features.EXPORT_TO_FEATURE}
  rows = [{key: str(columns[column][i])
           for column, key in features.EXPORT_TO_FEATURE.items()}
          for i in range(len(ids))]
  return ids, rows


def score_complaints(client, ids: Sequence[str],
                     rows: Sequence[Mapping[str, str]], out: str,
                     batch_size: int = 64, progress: Optional[Progress] = None,
                     request_log: Optional[ClientRequestLog] = None
                     ) -> Dict[str, Any]:
  """Scores rows in batches; writes `Complaint ID,disputed_probability,
  model_version` rows to `out` (a temp file renamed at the end).

  A batch the server rejects is counted as failed (its rows are not
  written) and scoring goes on. Returns the summary printed as JSON.
  """
  protocol = 'rest' if isinstance(client, RestClient) else 'grpc'
  start = time.monotonic()
  sent = failed = batches = failed_batches = 0
  versions: Dict[int, int] = {}
  errors: List[str] = []
  version: Optional[int] = None
  directory = os.path.dirname(os.path.abspath(out))
  temp = os.path.join(directory,
                      f'.{os.path.basename(out)}.{os.getpid()}.tmp')
  with open(temp, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow([features.ID_EXPORT_COLUMN, OUTPUT_KEY, 'model_version'])
    try:
      for begin in range(0, len(rows), batch_size):
        batch_ids = ids[begin:begin + batch_size]
        serialized = serialized_examples(rows[begin:begin + batch_size],
                                         batch_ids)
        batches += 1
        try:
          if protocol == 'rest':
            for attempt in (0, 1):
              if version is None:
                version = client.pin_version()
              try:
                values, request, response = client.examples_exchange(
                    serialized, version)
                break
              except ClientError as e:
                if e.code != '404' or attempt:
                  raise
                version = None  # Pinned version unloaded: resolve again.
          else:
            request = client.examples_request(serialized)
            values, response = client.predict_request(request)
          batch_version = response.model_spec.version.value
          if len(values) != len(batch_ids):
            raise ClientError(f'{len(values)} predictions for '
                              f'{len(batch_ids)} examples')
        except ClientError as e:
          failed += len(batch_ids)
          failed_batches += 1
          if len(errors) < 5:
            errors.append(str(e))
        else:
          sent += len(batch_ids)
          versions[batch_version] = versions.get(batch_version, 0) + len(
              batch_ids)
          for complaint_id, value in zip(batch_ids, values):
            writer.writerow([complaint_id, repr(float(value)), batch_version])
          if request_log is not None:
            request_log.log(request, response)
        if progress is not None:
          progress.update(sent + failed, failed)
    except BaseException:
      f.close()
      os.unlink(temp)
      raise
  os.replace(temp, out)
  if progress is not None:
    progress.close()
  latest = max(versions, key=versions.get) if versions else None
  return {'sent': sent, 'failed': failed, 'rows': len(rows),
          'batches': batches, 'failed_batches': failed_batches,
          'model_version': latest,
          'model_versions': {str(v): n for v, n in sorted(versions.items())},
          'model_name': client.model_name, 'protocol': protocol,
          'out': os.path.abspath(out), 'errors': errors,
          'seconds': round(time.monotonic() - start, 3)}
