"""docker-compose.yml, checked without a Docker engine: against the compose-spec JSON schema (vendored by
check-jsonschema) and against the repository it builds from (configs, services, sites, passwords)."""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _schema() -> dict[str, Any]:
    path = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    return YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))


def _errors(doc: dict[str, Any]) -> list[str]:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)  # the draft the schema names (2020-12)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _hallnet_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items()
            if "HALLNET_SERVICE" in (svc.get("environment") or {})}


def test_compose_file_matches_the_compose_spec_schema() -> None:
    """docker-compose.yml is valid Compose: `docker compose up` would not reject it for its shape."""
    assert _errors(_compose()) == []


def test_schema_check_rejects_a_broken_compose_file() -> None:
    """The validator bites: a misspelt key and a wrong type in a copy of our file are both reported."""
    doc = copy.deepcopy(_compose())
    first = next(iter(doc["services"]))
    doc["services"][first]["restrat"] = "always"
    doc["services"][first]["ports"] = "8101:8101"
    errors = _errors(doc)
    assert any("restrat" in e for e in errors), errors
    assert any("ports" in e for e in errors), errors


def test_compose_references_resolve_in_the_repository() -> None:
    """Every bind-mounted file exists, every named volume is declared, every depends_on names a service."""
    doc = _compose()
    declared = set(doc.get("volumes") or {})
    for name, svc in doc["services"].items():
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
        deps = svc.get("depends_on") or []
        for dep in (deps if isinstance(deps, list) else list(deps)):
            assert dep in doc["services"], f"{name} depends on unknown {dep}"


def test_every_hallnet_container_runs_an_existing_service_on_its_own_port() -> None:
    """Each hallnet container names a real ``services/<name>`` package and publishes the port it listens on."""
    services = _hallnet_services(_compose())
    names = {s["environment"]["HALLNET_SERVICE"] for s in services.values()}
    assert {"queue", "matters", "ratings", "notify", "gateway", "central"} <= names
    ports = []
    for name, svc in services.items():
        env = svc["environment"]
        assert (ROOT / "services" / env["HALLNET_SERVICE"] / "__main__.py").is_file(), name
        port = env["HALLNET_HTTP_PORT"]
        assert any(p.endswith(f":{port}:{port}") for p in svc.get("ports") or []), f"{name} does not publish {port}"
        ports.append(port)
        for key in ("HALLNET_SITE", "NATS_URL") if env["HALLNET_SERVICE"] != "gateway" else ("HALLNET_UPSTREAMS",):
            assert env.get(key), f"{name} lacks {key}"
    assert len(ports) == len(set(ports)), "two containers claim one port"


def test_gateways_proxy_only_containers_that_exist() -> None:
    """Each gateway's upstreams name containers of this file on the ports those containers listen on."""
    doc = _compose()
    gateways = {n: s for n, s in _hallnet_services(doc).items() if s["environment"]["HALLNET_SERVICE"] == "gateway"}
    assert {"zhuzhou-gateway", "central-gateway"} <= set(gateways)
    for name, svc in gateways.items():
        for service, url in json.loads(svc["environment"]["HALLNET_UPSTREAMS"]).items():
            host, port = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url).groups()  # type: ignore[union-attr]
            target = doc["services"].get(host)
            assert target is not None, f"{name}: no container {host}"
            assert target["environment"]["HALLNET_SERVICE"] == service, (name, service, host)
            assert target["environment"]["HALLNET_HTTP_PORT"] == port, (name, host, port)


def test_central_stream_job_uses_the_password_in_the_central_config() -> None:
    """The one-shot CENTRAL job authenticates with the hallnet password that deploy/nats/central.conf defines,
    for every site that has a leaf NATS container."""
    doc = _compose()
    job = doc["services"]["central-stream"]["command"]
    url = job[job.index("--url") + 1]
    password = re.match(r"nats://hallnet:([^@]+)@", url)
    assert password, url
    central_conf = (ROOT / "deploy/nats/central.conf").read_text(encoding="utf-8")
    assert f'user: "hallnet", password: "{password.group(1)}"' in central_conf
    sites = set(job[job.index("--sites") + 1].split(","))
    leaf_sites = {n.removeprefix("nats-") for n in doc["services"] if n.startswith("nats-") and n != "nats-central"}
    assert sites == leaf_sites


@pytest.mark.parametrize("key", ["HALLNET_MATTERS_DATA_KEY", "HALLNET_NOTIFY_DATA_KEY", "HALLNET_RATINGS_DATA_KEY"])
def test_personal_data_keys_must_be_supplied(key: str) -> None:
    """Compose refuses to start the services holding personal data without their encryption key."""
    services = _hallnet_services(_compose())
    values = [svc["environment"][key] for svc in services.values() if key in svc["environment"]]
    assert values, f"no container receives {key}"
    assert all(re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", v) for v in values), values
