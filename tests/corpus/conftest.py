"""Fixtures of the corpus tests: the results.json schema."""
import json

import jsonschema
import pytest

from .harness import SCHEMA_PATH


@pytest.fixture(scope="session")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
