"""The committed OpenAPI document is what the handlers generate, and the running local stack
honours it: schemathesis generates requests from it (valid and invalid) and checks every answer
(no 5xx, documented statuses, bodies matching their schemas)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    positive_data_acceptance,
    unsupported_method,
)

from local import dev_jwt
from local.openapi import document
from local.stack import DEMO_USER, LOCAL_AUDIENCE, LOCAL_ISSUER
from local.template import ROOT, http_routes
from tests.support.local_stack import running_stack

OPENAPI = ROOT / "openapi.json"
schema = schemathesis.openapi.from_path(str(OPENAPI))


def test_the_committed_document_is_what_the_handlers_generate():
    # `make openapi` regenerates it; a route or model changed without it fails here.
    assert json.loads(OPENAPI.read_text()) == document()


def test_the_document_covers_every_route_of_the_template():
    documented = {(method.upper(), path) for path, operations in document()["paths"].items() for method in operations}
    assert documented == set(http_routes())


JWT_SECRET = "openapi-test-secret"
DEV_TOKEN = dev_jwt.issue(DEMO_USER, secret=JWT_SECRET, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)


@schema.auth()
class DevToken:
    """The dashboard's JWT, the way the document's security scheme says: schemathesis also sends
    requests without it (and with a wrong one) to check the API refuses them."""

    def get(self, case, context):
        return DEV_TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def running():
    with running_stack("openapi", health_interval=3600, jwt_secret=JWT_SECRET) as (_, info):
        yield info


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_documented(case, running):
    case.call_and_validate(
        base_url=running.api_url,
        # API Gateway HTTP APIs answer an undeclared method 404 {"message": "Not Found"}, not 405 with
        # an Allow header; the local stack answers the same way.
        # A stats window must run forwards and last at most 31 days, a rule across two query
        # parameters that OpenAPI cannot state: such schema-valid requests get a documented 422.
        excluded_checks=[unsupported_method, allow_header_conformance, positive_data_acceptance],
    )
