"""schemathesis over the published OpenAPI document: no 5xx, and answers as the document says.

Requests generated from each operation's parameters and bodies (valid and invalid ones) go to
the real server over the Kab. Malang registry on both backends, and each answer is checked:
never a server error, a status code the operation documents, the documented media type and
headers, and a body that validates against the documented schema. Writes are sent without a
key (the registry stays as it was: the security tests check that), so they end at 401 or at
an earlier 4xx, which are checked the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.settings import ApiSettings
from tests.api.test_server import running_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 30


@pytest.fixture(scope="module")
def served_once(registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server for the module (a server a generated case would cost seconds)."""
    with running_server(registry_url, tmp_path_factory.mktemp("schemathesis")) as base:
        yield base


# The document does not depend on the backend: read from the app, the cases go to the servers.
schema = schemathesis.openapi.from_dict(create_app(None, ApiSettings(_env_file=None)).openapi())


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases each run: a failure here is a failure next time too
)
def test_the_api_answers_as_its_openapi_document_says(served_once, case):
    case.call_and_validate(base_url=served_once, checks=CHECKS, timeout=60)
