"""The curated schema: closed vocabularies, and the real values kept in them."""

import tensorflow_data_validation as tfdv

from components import features
from pipeline import paths
from pipeline.schema import curate


def _domain(schema, name):
  return [d for d in schema.string_domain if d.name == name][0]


def test_an_inferred_schema_gains_the_real_responses_the_generator_lacks():
  inferred = tfdv.load_schema_text(paths.CURATED_SCHEMA)
  responses = _domain(inferred, features.COMPANY_RESPONSE)
  kept = [v for v in responses.value
          if v not in ('Closed with relief', 'Closed without relief')]
  del responses.value[:]
  responses.value.extend(kept)   # as SchemaGen infers it on generated data
  curated = curate.curate(inferred)
  values = list(_domain(curated, features.COMPANY_RESPONSE).value)
  assert values[-2:] == ['Closed with relief', 'Closed without relief']
  assert values[:-2] == kept
  assert len(set(values)) == len(values)


def test_the_shipped_schema_is_its_own_curation():
  shipped = tfdv.load_schema_text(paths.CURATED_SCHEMA)
  assert curate.curate(tfdv.load_schema_text(paths.CURATED_SCHEMA)) == shipped
