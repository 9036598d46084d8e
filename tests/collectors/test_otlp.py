import pytest

from .helpers import protocol

SPANS = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cli"}}]},
                            "scopeSpans": []}]}


@pytest.mark.parametrize("path, body, ctype, expected", [
    ("/v1/traces", SPANS, "application/json", "otlp"),
    ("/anything", {"resourceMetrics": []}, "application/json", "otlp"),
    ("/v1/logs", b"\x0a\x05\x0a\x03cli", "application/x-protobuf", "otlp"),
    ("/opentelemetry.proto.collector.trace.v1.TraceService/Export", b"\x00\x00\x00\x00\x00", "application/grpc", "otlp"),
    # negative rows
    ("/v1/traces", {"traces": []}, "application/json", ""),   # an API that lists traces, in JSON
    ("/v1/logs", b"plain text log line", "text/plain", ""),
])
def test_otlp(path, body, ctype, expected):
    assert protocol("POST", f"https://otel.example{path}", body, ctype) == expected
