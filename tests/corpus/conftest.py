"""Fixtures of the corpus tests: the results.json schema and the grader files to guard."""
import json

import jsonschema
import pytest

from .harness import SCHEMA_PATH, guarded


@pytest.fixture(scope="session")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def guarded_files():
    """Hashes of the grader's files before the case: an attack must not change them."""
    return guarded()
