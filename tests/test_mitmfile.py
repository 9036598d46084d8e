"""The fast .mitm reader against mitmproxy's own (the reference), record by record."""

import io as _io
from pathlib import Path

import pytest
from mitmproxy import http, io
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow

from auditor import flowstore, mitmfile


def same_as_mitmproxy(path: Path) -> int:
    """Assert that every record of path reads the same both ways; return how many there were."""
    fast = list(mitmfile.exchanges(path, "s", "v"))
    ref = list(flowstore.read_mitm(path, "s", "v"))
    assert len(fast) == len(ref)
    for a, b in zip(fast, ref):
        assert a == b, f"{path}: flow {b.id} ({b.kind}) reads differently"
    return len(ref)


def h2_flow():
    f = tflow.tflow(resp=True)
    f.request.http_version = "HTTP/2.0"
    f.request.authority = "h2.example:8443"
    f.request.headers.pop("host", None)
    return f


def connect_flow():
    f = tflow.tflow()
    f.request.method, f.request.authority, f.request.path = "CONNECT", "tunnel.example:443", ""
    return f


def tls_tcp_flow():
    f = tflow.ttcpflow()
    f.client_conn.sni, f.client_conn.timestamp_tls_setup = "beacon.example", 1.5
    f.metadata = {"egress.host": "beacon.example", "egress.destination": ["198.18.0.7", 7000]}
    return f


def cached_flow():
    f = tflow.tflow(resp=True)
    f.request.headers["Host"] = "files.example"
    f.request.path = "/a/-/a-1.0.tgz?x=%C3%A9"
    f.metadata = {"egress.action": "forward", "egress.cache": {"status": "hit", "verified": ["sha256"]}}
    f.response.headers.add("set-cookie", "a=1")
    f.response.headers.add("set-cookie", "b=2")
    return f


FLOWS = {
    "http": lambda: tflow.tflow(resp=True),
    "http without response": lambda: tflow.tflow(),
    "http error": lambda: tflow.tflow(err=True),
    "http/2 authority": h2_flow,
    "CONNECT": connect_flow,
    "cached, repeated headers, query": cached_flow,
    "websocket": tflow.twebsocketflow,
    "tcp": tflow.ttcpflow,
    "tcp over tls, tagged": tls_tcp_flow,
    "tcp error": lambda: tflow.ttcpflow(err=True),
    "udp": tflow.tudpflow,
    "dns (reference path)": lambda: tflow.tdnsflow(resp=True),
}


@pytest.mark.parametrize("make", FLOWS.values(), ids=FLOWS.keys())
def test_each_kind_of_flow_reads_as_mitmproxy_reads_it(tmp_path, make):
    path = tmp_path / "flows.mitm"
    with open(path, "wb") as fo:
        io.FlowWriter(fo).add(make())
    assert same_as_mitmproxy(path) == 1


def test_older_format_versions_go_through_mitmproxys_migration(tmp_path):
    state = tflow.tflow(resp=True).get_state()
    old = dict(state, version=20)  # read as version 20, migrated by mitmproxy to the current one
    record = tnetstring.dumps(old)
    assert mitmfile.exchange(record) == flowstore.from_flow(mitmfile.reference(record))


def test_split_cuts_only_at_record_boundaries(tmp_path):
    path = tmp_path / "flows.mitm"
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for i in range(50):
            f = tflow.tflow(resp=True)
            f.request.content = b"x" * (i * 100)
            w.add(f)
    ranges, n, damage = mitmfile.split(path, 2000)
    assert (n, damage) == (50, "")
    assert len(ranges) > 5 and ranges[0][0] == 0 and ranges[-1][1] == path.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    ids = [ex.id for a, b in ranges for ex in mitmfile.exchanges(path, start=a, end=b)]
    assert ids == [ex.id for ex in flowstore.read_mitm(path)]
    assert mitmfile.split(path, 10**9) == ([(0, path.stat().st_size)], 50, "")


@pytest.mark.parametrize("data, whole", [(b"hello", 0), (b"12:abc", 0), (b"99999:" + b"x" * 10, 0)])
def test_split_stops_at_damage_and_says_where(tmp_path, data, whole):
    buf = _io.BytesIO()
    io.FlowWriter(buf).add(tflow.tflow(resp=True))
    path = tmp_path / "bad.mitm"
    path.write_bytes(buf.getvalue() + data)
    ranges, n, damage = mitmfile.split(path, 100)
    assert n == whole + 1 and ranges == [(0, len(buf.getvalue()))] and damage


def test_a_truncated_last_record_is_an_error_not_a_silent_loss(tmp_path):
    buf = _io.BytesIO()
    io.FlowWriter(buf).add(tflow.tflow(resp=True))
    path = tmp_path / "cut.mitm"
    path.write_bytes(buf.getvalue()[:-5])
    with pytest.raises(mitmfile.RecordError):
        list(mitmfile.records(path))
    assert mitmfile.split(path, 100)[:2] == ([], 0)


def test_links_and_non_files_are_not_read(tmp_path):
    target = tmp_path / "real.mitm"
    target.write_bytes(b"")
    (tmp_path / "link.mitm").symlink_to(target)
    with pytest.raises(OSError):
        mitmfile.split(tmp_path / "link.mitm", 100)


def test_synthetic_benchmark_capture_reads_the_same(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "synthetic_capture", Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_capture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = mod.write(tmp_path / "s.mitm", 300)
    assert same_as_mitmproxy(path) == 300
    assert isinstance(next(iter(io.FlowReader(open(path, "rb")).stream())), http.HTTPFlow)
