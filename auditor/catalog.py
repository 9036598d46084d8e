"""Names and shapes that suggest telemetry: a catalog of analytics hosts, host labels and paths,
and the key names of event payloads.

These only label a request and raise confidence (classify.py): a name never makes a request
telemetry on its own, and a missing name never makes it functional — the variants decide.
"""

from __future__ import annotations

import functools
import re

from .policy import is_allowed

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


@functools.lru_cache(maxsize=4096)
def _host_label(host: str) -> str:
    if is_allowed(host, HOSTS):
        return "known analytics host"
    if HOST_LABEL.match(host):
        return "host name says telemetry"
    return ""


def name_label(host: str, path: str) -> str:
    """What the destination's name says, or "" when it says nothing."""
    return _host_label(host) or ("path says telemetry" if PATH.search(path or "") else "")


def event_shaped(keys: set[str], path: str) -> bool:
    """Two event keys (e.g. "event" + "anonymousId") make an event; one is enough on a telemetry path."""
    return len(keys) >= 2 or bool(keys and PATH.search(path or ""))
