"""The recorder addon, driven by mitmproxy's own test helpers (no network, no proxy)."""

import asyncio
import json

import pytest
from mitmproxy import connection, io
from mitmproxy.proxy import server_hooks
from mitmproxy.test import taddons, tflow

from auditor.capture import Recorder


@pytest.fixture
def recorder(tmp_path):
    r = Recorder()
    with taddons.context(r) as tctx:
        tctx.configure(r, egress_dir=str(tmp_path), egress_allow=["pypi.example", "*.files.example"])
        yield r, tmp_path


def read_flows(path):
    with open(path / "flows.mitm", "rb") as fo:
        return list(io.FlowReader(fo).stream())


def test_unallowed_host_is_answered_locally_and_recorded(recorder):
    r, d = recorder
    f = tflow.tflow()
    f.request.host = "telemetry.tool.example"
    f.request.headers["host"] = "telemetry.tool.example"
    r.requestheaders(f)
    r.request(f)
    assert f.response is not None and f.response.status_code == 200
    assert f.metadata["egress.action"] == "sinkhole"
    r.response(f)
    [saved] = read_flows(d)
    assert saved.request.host == "telemetry.tool.example"
    assert saved.metadata["egress.action"] == "sinkhole"


def test_allowed_host_is_forwarded(recorder):
    r, _ = recorder
    f = tflow.tflow()
    f.request.host = "a.files.example"
    f.request.headers["host"] = "a.files.example"
    f.client_conn.sni = "a.files.example"
    r.request(f)
    assert f.response is None and f.metadata["egress.action"] == "forward"
    f2 = tflow.tflow()
    f2.request.host = f2.request.headers["host"] = "a.files.example"
    f2.client_conn.sni = "other.example"  # TLS to one name, HTTP Host of another
    r.request(f2)
    assert f2.metadata["egress.action"] == "sinkhole"


def test_allowed_address_with_foreign_host_header_is_sinkholed(recorder):
    r, _ = recorder
    f = tflow.tflow()
    f.request.host = "pypi.example"
    f.request.headers["host"] = "exfil.example"
    r.request(f)
    assert f.response is not None and f.metadata["egress.action"] == "sinkhole"


def test_server_connect_never_reaches_unallowed_hosts(recorder):
    r, d = recorder
    r.sink_addr = ("127.0.0.1", 9)
    server = connection.Server(address=("beacon.example", 4444))
    data = server_hooks.ServerConnectionHookData(server=server, client=tflow.tclient_conn())
    r.server_connect(data)
    assert server.address == ("127.0.0.1", 9)
    allowed = connection.Server(address=("pypi.example", 443))
    r.server_connect(server_hooks.ServerConnectionHookData(server=allowed, client=tflow.tclient_conn()))
    assert allowed.address == ("pypi.example", 443)
    events = [json.loads(l) for l in (d / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e["host"]) for e in events] == [("sinkhole", "beacon.example"), ("upstream", "pypi.example")]


def test_streams_are_recorded_and_open_ones_flushed_at_shutdown(recorder):
    r, d = recorder
    closed, still_open = tflow.ttcpflow(), tflow.ttcpflow()
    r.tcp_start(closed)
    r.tcp_start(still_open)
    r.tcp_end(closed)
    r.done()
    ids = {f.id for f in read_flows(d)}
    assert ids == {closed.id, still_open.id}


def test_websocket_flows_wait_for_their_end(recorder):
    r, d = recorder
    f = tflow.twebsocketflow()
    r.response(f)
    assert read_flows(d) == []
    r.websocket_end(f)
    assert len(read_flows(d)) == 1
