"""OpenTelemetry OTLP exports: OTLP/HTTP JSON ({"resourceSpans" | "resourceMetrics" |
"resourceLogs": …}), OTLP/HTTP protobuf (POST /v1/traces|metrics|logs) and OTLP/gRPC."""

from __future__ import annotations

import re

from . import Recognition, Request

_SIGNALS = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs",
            "resource_spans": "traces", "resource_metrics": "metrics", "resource_logs": "logs"}
_HTTP = re.compile(r"/v1/(traces|metrics|logs)/?$")
_GRPC = re.compile(r"^/opentelemetry\.proto\.collector\.(trace|metrics|logs)\.v1\.\w+Service/Export$")


class Otlp:
    name = "otlp"

    def recognise(self, req: Request) -> Recognition | None:
        for doc in req.docs:
            if isinstance(doc.value, dict):
                signals = [s for k, s in _SIGNALS.items() if isinstance(doc.value.get(k), list)]
                if signals:
                    return Recognition(self.name, f"OpenTelemetry OTLP/HTTP JSON export ({', '.join(signals)})",
                                       tuple(signals))
        m = _HTTP.search(req.path)
        if m and "protobuf" in req.content_type:
            return Recognition(self.name, f"OpenTelemetry OTLP/HTTP protobuf export ({m.group(1)})", (m.group(1),))
        m = _GRPC.match(req.path)
        if m and req.content_type.startswith("application/grpc"):
            return Recognition(self.name, f"OpenTelemetry OTLP/gRPC export ({m.group(1)})", (m.group(1),))
        return None


OTLP = Otlp()
