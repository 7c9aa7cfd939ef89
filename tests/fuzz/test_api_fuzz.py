"""Every HTTP call of one site's services and of central, fuzzed from its own OpenAPI (schemathesis) against the
real stack (``hallnet up``), with and without tokens: no answer is a server error, and every answer is what the
OpenAPI documents. A failure prints the request that reproduces it (as curl)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.failures import FailureGroup

from tests.fuzz.conftest import SITE_SERVICES, Target

# examples per operation and pass (anonymous, with a token); HALLNET_FUZZ_EXAMPLES raises it for a long local run
EXAMPLES = int(os.environ.get("HALLNET_FUZZ_EXAMPLES", "12"))
# server-sent event streams never end: a fuzzer's request to them would hang, not fail
ENDLESS = ("/stream",)
# calls that end the very token the tokened pass uses (the pass would go on as anonymous)
ENDS_TOKEN = ("sign-out", "end-session")


def _fuzz_operation(op: Any, base: str, headers: dict[str, str]) -> list[str]:
    """Up to EXAMPLES generated requests to ``op``; the failures, each with its curl reproduction."""
    failures: list[str] = []
    checks = [not_a_server_error, response_schema_conformance]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=base, headers=headers, timeout=10)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (AssertionError, FailureGroup) as exc:
            # the message names the failure and has the curl reproduction; the same one once per operation
            text = f"{op.method.upper()} {op.path}: {str(exc).strip()[:900]}"
            if text not in failures and len(failures) < 3:
                failures.append(text)

    with contextlib.suppress(Unsatisfiable):  # no valid example could be generated: nothing to send
        run()
    return failures


@pytest.mark.parametrize("service", [*SITE_SERVICES, "central"])
def test_no_call_answers_a_server_error_or_breaks_its_schema(targets: list[Target], service: str) -> None:
    """Fuzzed requests to every operation of the service, anonymous and with a token, never get a 500 and always
    get an answer its OpenAPI documents (status and body)."""
    target = next(t for t in targets if t.service == service)
    schema = schemathesis.openapi.from_url(f"{target.base}/{service}/openapi.json")
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.endswith(ENDLESS):
            continue
        tried += 1
        failures += _fuzz_operation(op, target.base, {})
        if not any(word in op.path for word in ENDS_TOKEN):
            failures += _fuzz_operation(op, target.base, {"Authorization": f"Bearer {target.token}"})
    assert tried > 3, f"{service}: only {tried} operations in its OpenAPI"
    assert failures == [], f"{service}: {len(failures)} failing requests\n" + "\n".join(failures)
