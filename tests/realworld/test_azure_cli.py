"""Real-world audit: Azure CLI 2.91.0, `az version` and `az config get` (`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture): every command sends one Application
Insights event, `POST https://dc.services.visualstudio.com/v2/track` ("azurecli/command": raw
command, shell, Python and CLI versions, timings), from a detached uploader. No notice is printed
by these commands. The event's `ai.device.id` tag is the machine's host name, in the clear; the
properties carry `AzureCLI.InstallationId` (= `VS.Core.User.Id`, kept in ~/.azure/azureProfile.json)
and `VS.Core.DevDeviceId` (kept in ~/.cache/Microsoft/DeveloperTools/deviceid), the same for every
command of a HOME; `VS.Core.Machine.Id` changes with every process here (no stable MAC address in
the sandbox). Independently of telemetry, every command also fetches the latest versions from
azcliprod.blob.core.windows.net (an update check, the same with telemetry off).
AZURE_CORE_COLLECT_TELEMETRY=false is honoured; DO_NOT_TRACK=1 is ignored; CI sends.
"""

import json

import pytest

from . import helpers
from .helpers import findings

pytestmark = pytest.mark.realworld

COLLECTOR = "dc.services.visualstudio.com"
UPDATES = "azcliprod.blob.core.windows.net"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "azure-cli", "--jobs", "2")


def events(out, run):
    """(exchange, tags, properties) of every Application Insights event of a run."""
    return [(e, item["tags"], item["data"]["baseData"]["properties"])
            for e in helpers.requests(out, run, COLLECTOR) for item in json.loads(e.request_body)]


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR, UPDATES})


def test_every_command_reports_without_notice(out):
    sent = events(out, "unset")
    assert [p["Context.Default.AzureCLI.RawCommand"] for _, _, p in sent] == ["version", "config get"]
    for e, _, p in sent:
        assert e.method == "POST" and e.path == "/v2/track"
        assert p["Context.Default.AzureCLI.CoreVersion"] == "2.91.0"
    assert not [t for t in helpers.shown(out, "unset", r"(?i)\bcollect") if t < sent[0][0].timestamp]


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if events(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # AZURE_CORE_COLLECT_TELEMETRY=false honoured, DO_NOT_TRACK not
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_update_check_is_functional_not_telemetry(out):
    # The version check runs in every variant, with telemetry refused too, and carries no id.
    assert all(helpers.requests(out, run, UPDATES) for run in helpers.VARIANTS)
    assert not [f for f in findings(out) if f["host"] == UPDATES and f["rule"].startswith(("CONSENT", "PRIV"))]


def test_host_name_is_sent_in_the_clear(out):
    hostname = helpers.manifest(out, "unset")["identity"]["hostname"]
    assert {t["ai.device.id"] for _, t, _ in events(out, "unset")} == {hostname}
    conf = [f for f in findings(out, "CONF-001") if f["host"] == COLLECTOR]
    assert any(f["evidence"]["match"] == "hostname" and "ai.device.id" in f["evidence"]["location"]
               for f in conf), conf


def test_installation_and_device_ids_are_kept_in_the_home(out):
    keys = ("Context.Default.AzureCLI.InstallationId", "Context.Default.VS.Core.DevDeviceId")
    ids = {run: {tuple(p[k] for k in keys) for _, _, p in events(out, run)} for run in ("unset", "dnt", "ci")}
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == 3, ids
    locations = {f["evidence"]["location"] for f in findings(out, "PRIV-004")}
    assert any("InstallationId" in loc or "User.Id" in loc for loc in locations), locations
    assert any("DevDeviceId" in loc for loc in locations), locations
    # Machine.Id changes with every process here, and the host name is a planted value, not an id
    # found to be stable by chance: neither is a machine fingerprint of this sandbox.
    assert not [f for f in findings(out, "PRIV-003") if "Machine.Id" in f["evidence"]["location"]]


def test_nothing_personal_in_the_clear(out):
    for rule in ("PRIV-001", "PRIV-002", "CONF-002", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
