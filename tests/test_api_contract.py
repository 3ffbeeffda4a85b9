"""The API keeps the contract its OpenAPI document states.

schemathesis generates requests from ``/openapi.json`` (valid ones, and for every operation also
invalid ones) with an admin token, sends them to the real app on the demo county, and runs all
its checks on each answer: no 5xx, a status code the document declares for the operation, the
declared content type and headers, a body matching the declared schema, invalid data refused and
valid data accepted. Bounded and derandomized: the same cases on every run (about 2 min).
"""

from __future__ import annotations

import pytest
from conftest import _token

from emgis.api.http.features import COLLECTIONS

pytestmark = pytest.mark.postgis

#: examples per operation and generation mode; service areas and documents take seconds each
EXAMPLES = {"positive": 20, "negative": 10}
SLOW = {"/analyses/service-areas": 4, "/analyses/warning-area": 6, "/analyses/gaps": 5,
        "/analyses/coverage": 5, "/maps/coverage": 5, "/reports/coverage": 3,
        "/reports/risk": 3, "/reports/readiness": 3}


def _excluded():
    from schemathesis.checks import ignored_auth, positive_data_acceptance

    # positive_data_acceptance expects a 2xx for every schema-valid request. The API checks more
    # than a JSON Schema can say, and answers those refusals with documented 422/409/400s that
    # name the field and the fix: a polygon's ring must close and a place must be in the county
    # (GeoJSON), statuses and levels are vocabularies with aliases (处置中 = responding), a PATCH
    # must change something, a place must be on the road network's area.
    # ignored_auth re-sends a 2xx request with what it takes for generated credentials; this
    # test puts a real token on every case itself, which the check cannot tell apart, so it
    # reports the real token's 2xx as "accepts invalid authentication". Tokens are tested at
    # their own door: tests/test_api.py (every write without, with a bad, a revoked and a too
    # weak token answers 401/403). The other checks run.
    return [positive_data_acceptance, ignored_auth]


def _failures(exc: BaseException) -> list[str]:
    """One line per failed check: its title and the first line of its message."""
    subs = getattr(exc, "exceptions", None)
    if subs:
        return [m for e in subs for m in _failures(e)]
    title = getattr(exc, "title", type(exc).__name__)
    message = (getattr(exc, "message", None) or str(exc)).strip()
    return [f"{title}: {message.splitlines()[0] if message else ''}"]


@pytest.mark.filterwarnings("ignore::starlette.exceptions.StarletteDeprecationWarning")
def test_openapi_contract_holds_under_fuzzing(client, demo_db):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.failures import Failure, FailureGroup

    excluded = _excluded()
    _, auth = _token(demo_db.engine, "admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: dict[tuple, list] = {}
    calls: dict[str, int] = {}

    def fuzz(op, mode: GenerationMode, examples: int):
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode),
               cid=st.sampled_from(list(COLLECTIONS)), real=st.booleans())
        def run(case, cid, real):
            case.headers = {**(case.headers or {}), **auth}
            if real and "collection_id" in (case.path_parameters or {}):
                case.path_parameters["collection_id"] = cid  # mostly real layers
            calls[op.path] = calls.get(op.path, 0) + 1
            try:
                case.call_and_validate(excluded_checks=excluded)
            except (Failure, FailureGroup) as exc:
                for msg in _failures(exc):
                    failures.setdefault((op.method.upper(), op.path, msg), []).append(
                        (case.path_parameters, case.query, str(case.body)[:200]))

        try:
            run()
        except Unsatisfiable:  # negative mode on an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE, (op.method, op.path)

    for result in schema.get_all_operations():
        op = result.ok()
        for mode in GenerationMode:
            n = EXAMPLES[mode.value]
            fuzz(op, mode, min(n, SLOW.get(op.path, n)))
    report = [f"{m} {p}: {msg} (e.g. {cases[0]}, {len(cases)} cases)"
              for (m, p, msg), cases in failures.items()]
    print(f"schemathesis: {sum(calls.values())} requests on {len(calls)} paths, "
          f"{len(report)} failures")
    assert set(calls) == set(client.get("/openapi.json").json()["paths"]), "a path was not fuzzed"
    assert not report, "\n".join(report)


def test_every_route_declares_its_errors_in_one_shape(client):
    spec = client.get("/openapi.json").json()
    shape = spec["components"]["schemas"]["ErrorBody"]
    assert set(shape["required"]) == {"detail"} and "problems" in shape["properties"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            if op.get("security"):  # the writes: a token is needed, a role may be refused
                assert {"401", "403", "413"} <= set(op["responses"]), where
            for status, answer in op["responses"].items():
                if status[0] == "4":
                    assert answer["content"] == {"application/json": {"schema": {
                        "$ref": "#/components/schemas/ErrorBody"}}}, (where, status)


@pytest.mark.bad_input
@pytest.mark.parametrize(("method", "url", "status"), [
    pytest.param("GET", "/no/such/route", 404, id="unknown-route"),
    pytest.param("DELETE", "/incidents", 405, id="wrong-method"),
    pytest.param("POST", "/incidents", 401, id="no-token"),
    pytest.param("GET", "/collections/nothing", 404, id="unknown-collection"),
    pytest.param("GET", "/collections/shelters/items?bbox=a,b", 400, id="bad-bbox"),
    pytest.param("GET", "/analyses/nearest?lon=x&lat=1", 422, id="not-a-number"),
])
def test_every_error_answer_has_the_error_shape(client, method, url, status):
    r = client.request(method, url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= {"detail", "problems"} and body["detail"]



@pytest.mark.bad_input
def test_every_secured_route_refuses_a_missing_or_bad_token(client):
    """What schemathesis' ignored_auth would check, at this door: every operation the document
    marks as needing a token answers 401 without one and with a made-up one."""
    import re

    spec = client.get("/openapi.json").json()
    seen = 0
    for path, ops in spec["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, op in ops.items():
            if not op.get("security"):
                continue
            for headers in ({}, {"Authorization": "Bearer made-up"}):
                r = client.request(method.upper(), url, json={}, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            seen += 1
    assert seen >= 7  # the writes
