"""Real-world audit: DVC 3.67.1 initialising a repository and tracking a data file
(`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture): `dvc init` prints "DVC has enabled
anonymous aggregate usage analytics", and every command hands a report to a detached `dvc daemon
analytics` process — which dies on import before sending anything: it runs
`python .../site-packages/dvc/__main__.py`, so the package directory comes first on sys.path and
dvc/types.py shadows the standard library's `types` ("cannot import name 'GenericAlias' from
partially initialized module 'types'"). Nothing but the package index is ever contacted, in any
variant: a notice of collection with no collection. (Had it worked, the report would carry a user
id kept in ~/.config/iterative/telemetry and an unsalted MD5 of the git remote's path.)
"""

import pytest

from . import helpers
from .helpers import findings, output, shown

pytestmark = pytest.mark.realworld

NOTICE = r"DVC has enabled anonymous aggregate usage analytics"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "dvc", "--jobs", "2")


def test_every_run_completes(out):
    helpers.assert_complete(out, set())
    added = [o["text"] for o in output(out, "unset") if o["step"] == "add"]
    assert any("git add" in t for t in added), added  # DVC tracked the file and says what to commit


def test_notice_shown_and_nothing_sent(out):
    assert shown(out, "unset", NOTICE) and shown(out, "ci", NOTICE) and shown(out, "dnt", NOTICE)
    assert not shown(out, "denied", NOTICE)  # DVC_NO_ANALYTICS=1 also silences the notice
    for run in helpers.VARIANTS:
        assert helpers.manifest(out, run)["capture"] == "tun"
        others = {e.host for e in helpers.exchanges(out, run) if e.action != "forward"}
        assert not others, (run, others)  # only the (forwarded) package index, nothing sinkholed
    assert all(e["class"] == "functional" for e in helpers.endpoints(out).values())


def test_the_analytics_daemon_dies_on_import(out):
    log = [o["text"] for o in output(out, "unset") if o["step"] == "daemon-log"]
    assert any("cannot import name 'GenericAlias'" in t for t in log), log
    assert any("dvc/types.py" in t for t in log), log


def test_no_finding_at_all(out):
    # Nothing left the machine but the package index: any consent, privacy or confidentiality
    # finding would be a false positive.
    assert not [f for f in findings(out) if f["rule"] != "EGRESS-001"], findings(out)
