"""Telemetry classification: the scenario's declared endpoints, a built-in catalog of analytics
hosts and paths, and event-shaped payloads.
"""

from __future__ import annotations

import re

from .policy import is_allowed, matches_endpoint

# Hosted analytics and error-reporting collectors commonly embedded in developer tools.
HOSTS = (
    "*.segment.io", "*.segment.com", "api.mixpanel.com", "api-js.mixpanel.com", "*.amplitude.com",
    "*.google-analytics.com", "*.analytics.google.com", "*.googletagmanager.com", "*.posthog.com",
    "*.sentry.io", "*.ingest.sentry.io", "*.bugsnag.com", "*.rollbar.com", "*.honeycomb.io",
    "*.datadoghq.com", "browser-intake-datadoghq.com", "*.newrelic.com", "*.nr-data.net",
    "*.heap.io", "heapanalytics.com", "*.fullstory.com", "*.hotjar.com", "*.snowplowanalytics.com",
    "*.rudderstack.com", "*.mparticle.com", "*.appcenter.ms", "*.applicationinsights.azure.com",
    "dc.services.visualstudio.com", "*.launchdarkly.com", "*.statsig.com", "*.plausible.io",
    "*.matomo.cloud", "*.keen.io", "*.loggly.com", "*.logz.io", "*.scarf.sh", "static.scarf.sh",
)
# A host whose first label says what it is for.
HOST_LABEL = re.compile(
    r"^(telemetry|analytics|stats|metrics|events?|tracking|tracker|collect(or)?|beacon|"
    r"insights|usage|crash(es)?|reports?|t|ping|snowplow|otel|otlp)[0-9-]*\.", re.I)
PATH = re.compile(
    r"(^|/)(telemetry|analytics|collect|track|tracking|events?|batch|beacon|ping|record|"
    r"metrics|usage|insights|capture|i/v0/e|e|log-event|v1/t|envelope|identify|crash(es)?)(/|$|\?|\.)",
    re.I)
# Keys that make a JSON payload an analytics event.
EVENT_KEYS = frozenset({
    "event", "events", "eventname", "event_name", "event_type", "eventtype", "anonymousid",
    "anonymous_id", "distinct_id", "distinctid", "userid", "user_id", "session_id", "sessionid",
    "clientid", "client_id", "telemetry", "telemetry_id", "machineid", "machine_id", "install_id",
    "installation_id", "device_id", "deviceid", "properties", "traits", "context", "sent_at",
    "sentat", "measurements", "metrics",
})


def event_keys(keys) -> set[str]:
    """Event-ish names among the (lower-cased) key names of a payload: JSON keys, form fields."""
    return EVENT_KEYS.intersection(keys)


def classify(host: str, path: str, declared: tuple[str, ...], allowed: tuple[str, ...],
             payload_keys: set[str]) -> tuple[str, str]:
    """(class, reason): telemetry | functional | unknown."""
    if declared and matches_endpoint(host, path, declared):
        return "telemetry", "declared in expect.telemetry"
    if is_allowed(host, HOSTS):
        return "telemetry", "known analytics host"
    if allowed and is_allowed(host, allowed):
        return "functional", "allowed by network.allow"
    if HOST_LABEL.match(host):
        return "telemetry", "host name says telemetry"
    # Two event keys (e.g. "event" + "anonymousId") make an event; one alone is too weak.
    if len(payload_keys) >= 2 or (payload_keys and PATH.search(path or "")):
        return "telemetry", "event-shaped payload: " + ", ".join(sorted(payload_keys))
    return "unknown", ""
