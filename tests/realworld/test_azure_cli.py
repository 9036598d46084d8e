"""Real-world audit: Azure CLI 2.91.0, `az version` and `az config get` (`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture, run sandbox with a canary MAC): every
command hands one Application Insights event to a detached uploader, which posts it to
`POST https://dc.services.visualstudio.com/v2/track` ("azurecli/command": raw command, shell, Python
and CLI versions, timings). The uploader holds a lock file and a second command's event can stay in
~/.azure/telemetry for the next upload: `az config get` right after `az version` is sent in some
runs, not in others. No notice is printed by these commands. The event's `ai.device.id` tag is the
machine's host name, in the clear; `AzureCLI.InstallationId` (= `VS.Core.User.Id`, kept in
~/.azure/azureProfile.json) is a version-1 UUID whose last 12 hex digits are the machine's MAC
address, in the clear; `VS.Core.Machine.Id` and `VS.Core.MacAddressHash` are a digest of the MAC
(the same in every HOME, changed by the machine twin: a machine fingerprint); `VS.Core.DevDeviceId`
(kept in ~/.cache/Microsoft/DeveloperTools/deviceid) is the same for every command of a HOME and new
per HOME. Independently of telemetry, every command also fetches the latest versions from
azcliprod.blob.core.windows.net (an update check, the same with telemetry off).
AZURE_CORE_COLLECT_TELEMETRY=false is honoured; DO_NOT_TRACK=1 is ignored; CI sends.
"""

import json
import uuid

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
    commands = [p["Context.Default.AzureCLI.RawCommand"] for _, _, p in sent]
    assert commands in (["version"], ["version", "config get"])  # the second may wait in the cache
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
    assert any("DevDeviceId" in loc for loc in locations), locations


def test_the_installation_id_carries_the_mac_and_the_machine_id_is_its_digest(out):
    mac = helpers.manifest(out, "unset")["identity"]["mac"].replace(":", "")
    for _, _, p in events(out, "unset"):
        for key in ("Context.Default.AzureCLI.InstallationId", "Context.Default.VS.Core.User.Id"):
            u = uuid.UUID(p[key])
            assert u.version == 1 and f"{u.node:012x}" == mac  # uuid1(): time + the MAC address
    priv1 = {f["evidence"]["location"] for f in findings(out, "PRIV-001") if f["evidence"]["match"] == "mac"}
    assert any("AzureCLI.InstallationId" in loc for loc in priv1) and any("VS.Core.User.Id" in loc for loc in priv1), priv1
    priv3 = {f["evidence"]["location"] for f in findings(out, "PRIV-003")}
    assert any("Machine.Id" in loc for loc in priv3) and any("MacAddressHash" in loc for loc in priv3), priv3


def test_nothing_else_personal_in_the_clear(out):
    assert {f["evidence"]["match"] for f in findings(out, "PRIV-001")} == {"mac"}
    for rule in ("PRIV-002", "CONF-002", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
