"""OpenTelemetry: a tracer provider (exporter off unless OTLP is configured) and W3C ``traceparent``
carried in NATS headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

_configured = False


def configure_tracing(site: str, service: str, otlp_endpoint: str | None = None) -> None:
    """Install a tracer provider once per process; spans are exported only when OTLP is set."""
    global _configured
    if _configured:
        return
    # Without an exporter nothing is sampled: spans are non-recording (cheap) but still carry trace ids,
    # so traceparent propagates from HTTP requests into events and on to consumers all the same.
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"hallnet-{service}", "hallnet.site": site}),
        sampler=ParentBased(ALWAYS_ON) if otlp_endpoint else ALWAYS_OFF,
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str = "hallnet") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add ``traceparent`` (and ``tracestate``) of the current span to outgoing headers."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, Any] | None) -> context.Context:
    return propagate.extract(dict(headers or {}))

