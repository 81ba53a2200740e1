"""`python -m pipeline loop` end to end on small data, as a user runs it.

One round of concept drift (the label model changes, the fields do not):
the first model is trained and served, the round's traffic goes through the
running server, its labels come back as a feedback span, a model retrained
on the window (the first span and the feedback span) is judged and served
as canary beside stable without a restart, and the A/B round ends in a
verdict. Expectations come from the scenario's definition (data/scenarios.py)
and from files the loop wrote, read here directly.
"""

import csv
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_in_process

pytestmark = pytest.mark.e2e

TRAFFIC = 1500


@pytest.fixture(scope='module')
def looped(tmp_path_factory):
  output = tmp_path_factory.mktemp('loop')
  proc = subprocess.run(
      [sys.executable, '-m', 'pipeline', 'loop', '--output', str(output),
       '--scenario', 'concept_drift', '--traffic-rows', str(TRAFFIC),
       '--rows', '2000', '--train-steps', '150', '--min-auc', '0.55',
       '--json'],
      cwd=REPO, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return output, json.loads(proc.stdout), proc.stderr


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


def test_the_round_serves_monitors_and_feeds_back(looped):
  output, result, stderr = looped
  [round_] = result['rounds']
  assert round_['scenario'] == 'concept_drift'
  # Concept drift leaves every field's distribution as it was.
  assert round_['alerts'] == []
  assert 'round 1 (concept_drift): alerts none' in stderr
  # The served model scored the round, and did worse than the best model.
  assert 0.5 < round_['live_auc'] < round_['best_auc']
  # The feedback span: every complaint of the round, labelled as exported.
  span = round_['feedback_span']
  fed = _rows(output / 'input' / f'span-{span}' / 'complaints.csv')
  sent = _rows(output / 'loop' / 'traffic' / next(
      p.name for p in (output / 'loop' / 'traffic').glob('complaints_*.csv')
      if 'span1' in p.name))
  assert len(fed) == len(sent) == TRAFFIC


def test_the_retrained_model_learned_from_the_feedback_span(looped):
  output, result, _ = looped
  [round_] = result['rounds']
  retrained = round_['retrained']
  assert retrained['window_spans'] == [1, round_['feedback_span']]
  assert retrained['blessed'] and retrained['version']
  proc = cli_in_process('lineage', '--output', output, '--version',
                        retrained['version'], '--json')
  assert proc.returncode == 0, proc.stderr[-2000:]
  trail = json.loads(proc.stdout)
  assert trail['data']['files'][0]['path'] == str(
      output / 'input' / f"span-{round_['feedback_span']}" / 'complaints.csv')


def test_the_canary_was_served_beside_stable_and_judged(looped):
  output, result, _ = looped
  [round_] = result['rounds']
  canary = round_['retrained']['version']
  # The A/B round's traffic reached both versions of one running server:
  # the canary, pushed after the server started, was loaded without a
  # restart, and a complaint's version follows its ID.
  scores = _rows(output / 'loop' / 'round-1-ab' / 'scores.csv')
  versions = {int(row['model_version']) for row in scores}
  assert versions == {round_['served'], canary}
  with open(output / 'loop' / 'server.log', encoding='utf-8',
            errors='replace') as f:
    assert f.read().count('Running gRPC ModelServer') == 1
  # Concept drift: stable learned the old concept, the canary the window
  # with the feedback span of the new one, so on the A/B round's traffic
  # (the new concept) the canary must be clearly better and promoted. The
  # live AUCs are recomputed here from the scores and labels the round
  # wrote (scikit-learn, not the project's DeLong code).
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  labels = {row['Complaint ID']: row['Consumer disputed?'] == 'Yes'
            for row in _rows(output / 'loop' / 'round-1-ab' / 'labels.csv')}
  live = {}
  for version in versions:
    mine = [row for row in scores if int(row['model_version']) == version]
    live[version] = roc_auc_score(
        [labels[row['Complaint ID']] for row in mine],
        [float(row['disputed_probability']) for row in mine])
  assert live[canary] == pytest.approx(round_['canary_live_auc'], abs=1e-9)
  assert live[round_['served']] == pytest.approx(round_['stable_live_auc'],
                                                 abs=1e-9)
  assert live[canary] - live[round_['served']] > 0.05
  assert round_['verdict'] == 'promote', round_['verdict_reason']
  assert round_['served_after'] == canary
