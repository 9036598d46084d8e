"""Random and adversarial exchanges through the analysis and every renderer (issue 8): written as
real .mitm files by mitmproxy's own FlowWriter, analysed as a run directory, rendered in every
format. No exception, bounded time, no full identity value or planted credential in any report.

The fixed battery (test_analysis_hostile.py) measures memory under RLIMIT_AS in a child process;
this test explores combinations in-process, with a bounded number of examples.
"""

import base64
import gzip
import json
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from urllib.parse import quote

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor import analysis
from auditor.report import FORMATS, render_all, view

from . import captures as C

I = C.IDENTITY
VALUES = sorted(v for v in I.values().values() if len(v) >= 6) + list(C.SECRETS)
HOSTILE_TEXT = ["[/x]", "\x1b[2J", "\n", "\u202e", "\x00", "[", "]", "%", "\\", '"', "<script>", "{{x}}", ":cow:"]

# How a program might send a value: the forms a reviewer would not want to see whole in a report.
FORMS = {
    "plain": lambda v: v,
    "url": lambda v: quote(v, safe=""),
    "base64": C.b64,
    "base64url": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "hex": lambda v: v.encode().hex(),
    "upper": str.upper,
    "gzip-base64": lambda v: base64.b64encode(gzip.compress(v.encode())).decode(),
    "json-in-base64": lambda v: C.b64(json.dumps({"v": v})),
}

values = st.builds(lambda v, f: FORMS[f](v), st.sampled_from(VALUES), st.sampled_from(sorted(FORMS)))
words = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12), values)
json_docs = st.recursive(st.none() | st.integers() | words,
                         lambda kids: st.lists(kids, max_size=4) | st.dictionaries(words, kids, max_size=4),
                         max_leaves=12)


def _wrap(kind: str, data: bytes) -> bytes:
    return {"gzip": gzip.compress, "zlib": zlib.compress, "base64": base64.b64encode,
            "msgpack": lambda d: msgpack.packb({"k": d, "s": "text value"}),
            "deep": lambda d: b'{"a":' * 2000 + json.dumps(d.decode("latin-1")).encode() + b"}" * 2000,
            "raw": lambda d: d}[kind](data)


bodies = st.one_of(
    st.binary(max_size=512),
    json_docs.map(lambda d: json.dumps(d).encode()),
    st.tuples(st.sampled_from(["gzip", "zlib", "base64", "msgpack", "deep", "raw"]),
              json_docs.map(lambda d: json.dumps(d).encode())).map(lambda t: _wrap(*t)),
)
hosts = st.one_of(st.sampled_from(["app.example", "telemetry.tool.example", "a[b.example", "x\ny.example",
                                   "evil\x1b[31m.example", I.fqdn, C.AWS_KEY.lower() + ".example"]),
                  st.text(min_size=1, max_size=30))
paths = st.lists(st.one_of(words, st.binary(max_size=8).map(lambda b: b.decode("latin-1"))), max_size=4).map(
    lambda parts: "/" + "/".join(parts))
queries = st.lists(st.tuples(words, words), max_size=4).map(
    lambda kv: "&".join(f"{quote(k)}={v}" for k, v in kv))
headers = st.lists(st.tuples(st.sampled_from(["x-id", "cookie", "authorization", "content-type",
                                              "content-encoding", "x-\udcff", "user-agent"]),
                             st.one_of(words, st.sampled_from(["gzip", "application/json", "a=\udcff; b=c"]))),
                   max_size=4)


@st.composite
def flows(draw):
    kind = draw(st.sampled_from(["http", "http", "http", "dns", "tcp", "websocket"]))
    host = draw(hosts)
    if kind == "dns":
        return C.dns_flow(host)
    if kind == "tcp":
        from mitmproxy.test import tflow
        from mitmproxy import tcp

        f = tflow.ttcpflow()
        f.client_conn.sni = host
        f.messages = [tcp.TCPMessage(True, draw(bodies))]
        return f
    path = draw(paths) + ("?" + draw(queries) if draw(st.booleans()) else "")
    f = C.http_flow(host=host, path=path.encode("utf-8", "surrogateescape"), body=draw(bodies),
                    headers=draw(headers), scheme=draw(st.sampled_from(["https", "http"])))
    if kind == "websocket":
        from mitmproxy.test import tflow

        f.websocket = tflow.twebsocketflow().websocket
    return f


ADVERSARIAL = sorted(C.light_adversarial())
exchanges_of_a_run = st.lists(st.one_of(
    st.lists(flows(), min_size=1, max_size=3),
    st.sampled_from(ADVERSARIAL).map(lambda name: C.light_adversarial()[name][0]),
), min_size=1, max_size=3).map(lambda groups: [f for g in groups for f in g])


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(exchanges=exchanges_of_a_run, run=st.sampled_from(["unset", "denied", "dnt"]))
def test_random_exchanges_through_analysis_and_every_renderer(exchanges, run):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        C.run_dir(root, exchanges, run=run)
        start = time.monotonic()
        audit = analysis.analyze_run_dirs(analysis.find_run_dirs(root), out=root)
        render_all(audit, root, FORMATS)
        assert time.monotonic() - start < 60
        # Isolation turns an exception into "not inspected": here that would be a bug to fix.
        said = " ".join(view.all_problems(audit) + list(audit.notes))
        assert not any(bug in said for bug in ("analysis of this exchange failed", "internal error", "rules failed")), said
        json.loads((root / "findings.json").read_text())
        json.loads((root / "results.sarif").read_text())
        ET.parse(root / "junit.xml")
        assert C.leaks(C.report_text(root)) == []
