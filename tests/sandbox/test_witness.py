"""The proxy-mode syscall witness: strace lines → direct-connection events → SEC-006."""

import json
import shutil
import subprocess
import sys

import pytest

from auditor.rules import RunFacts, bypass_rules, security_rules
from auditor.sandbox import witness


def hx(text) -> str:
    """A string as strace -xx prints it."""
    data = text.encode() if isinstance(text, str) else text
    return "".join(f"\\x{b:02x}" for b in data)


def query(name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"


def inet(addr: str, port: int) -> str:
    return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{hx(addr)}")}}, 16'


CONNECT_V4 = f'41<{hx("python3")}> connect(3<TCP:[77]>, {inet("198.51.100.7", 443)}) = -1 EINPROGRESS (x)'
CONNECT_V6 = (f'41<{hx("node")}> connect(4<TCPv6:[78]>, {{sa_family=AF_INET6, sin6_port=htons(8443), '
              f'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "{hx("2001:db8::5")}", &sin6_addr), '
              f'sin6_scope_id=0}}, 28) = 0')
SENDTO_DNS = (f'42<{hx("curl")}> sendto(5<UDP:[79]>, "{hx(query("t.tool.example"))}", 33, 0, '
              f'{inet("198.51.100.53", 53)}) = 33')
SENDMMSG = (f'43<{hx("python3")}> sendmmsg(3<UDP:[10.1.1.2:4000->198.51.100.53:53]>, [{{msg_hdr={{msg_name=NULL, '
            f'msg_namelen=0, msg_iov=[{{iov_base="{hx(query("Lookup.Example"))}", iov_len=33}}], msg_iovlen=1}}, '
            f'msg_len=33}}], 1, MSG_NOSIGNAL) = 1')
TO_PROXY = f'41<{hx("pip")}> connect(3<TCP:[80]>, {inet("127.0.0.1", 41999)}) = 0'
LOCAL = f'41<{hx("pip")}> connect(3<TCP:[81]>, {inet("127.0.0.1", 5432)}) = 0'
NSCD_MISSING = f'41<{hx("ls")}> connect(3<UNIX-STREAM:[82]>, {{sa_family=AF_UNIX, sun_path="{hx("/var/run/nscd/socket")}"}}, 110) = -1 ENOENT (x)'
RESOLVED = f'41<{hx("ls")}> connect(3<UNIX-STREAM:[83]>, {{sa_family=AF_UNIX, sun_path="{hx("/run/systemd/resolve/io.systemd.Resolve")}"}}, 110) = 0'


@pytest.mark.parametrize("line, expected", [
    (CONNECT_V4, {"process": "python3", "syscall": "connect", "family": "inet", "address": "198.51.100.7",
                  "port": 443, "transport": "tcp", "result": "EINPROGRESS"}),
    (CONNECT_V6, {"process": "node", "family": "inet6", "address": "2001:db8::5", "port": 8443, "result": "0"}),
    (SENDTO_DNS, {"syscall": "sendto", "address": "198.51.100.53", "port": 53, "transport": "udp",
                  "dns_name": "t.tool.example", "bytes": len(query("t.tool.example"))}),
    (SENDMMSG, {"syscall": "sendmmsg", "address": "198.51.100.53", "port": 53, "dns_name": "lookup.example"}),
    (RESOLVED, {"family": "unix", "path": "/run/systemd/resolve/io.systemd.Resolve", "result": "0"}),
    # not attempts: a resumed half, an exit line, a socket call we do not trace
    ("41 <... connect resumed>) = 0", None),
    ("41 +++ exited with 0 +++", None),
    (f'41<{hx("x")}> connect(3<NETLINK:[84]>, {{sa_family=AF_NETLINK, nl_pid=0}}, 12) = 0', None),
])
def test_parse(line, expected):
    found = list(witness.parse([line]))
    if expected is None:
        assert found == []
    else:
        [attempt] = found
        assert expected.items() <= attempt.items()


@pytest.mark.parametrize("payload, name", [
    (query("a.b.example"), "a.b.example"),
    (len(query("tcp.example")).to_bytes(2, "big") + query("tcp.example"), "tcp.example"),  # DNS over TCP
    (b"\x12\x34\x81\x80" + query("x.example")[4:], ""),  # a response, not a query
    (b"GET / HTTP/1.1\r\n\r\n", ""),
    (b"", ""),
])
def test_dns_question(payload, name):
    assert witness.dns_question(payload) == name


def test_events_keep_only_what_bypassed_the_proxy(tmp_path):
    log = tmp_path / witness.LOG_NAME
    log.write_text("\n".join([TO_PROXY, LOCAL, NSCD_MISSING, CONNECT_V4, CONNECT_V4, SENDTO_DNS, SENDMMSG,
                              CONNECT_V6, RESOLVED]) + "\n")
    events = witness.events(log, ("127.0.0.1", 41999))
    got = [(e.get("dns_name") or e.get("address") or e.get("path"), e.get("port")) for e in events]
    assert got == [("198.51.100.7", 443), ("t.tool.example", 53), ("lookup.example", 53),
                   ("2001:db8::5", 8443), ("/run/systemd/resolve/io.systemd.Resolve", None)]
    assert all(e["event"] == "direct" for e in events)
    assert witness.events(tmp_path / "missing", None) == []


def run_facts(events, variant="unset"):
    return RunFacts(scenario="s", run=variant, variant=variant, same_home_as="", exchanges=[], events=events,
                    notice_time=None, notice_source="heuristic", has_denied=False, capture="proxy")


def test_direct_events_become_sec_006(tmp_path):
    log = tmp_path / witness.LOG_NAME
    log.write_text("\n".join([CONNECT_V4, SENDTO_DNS, CONNECT_V6, RESOLVED]) + "\n")
    run = run_facts(witness.events(log, None))
    findings = bypass_rules(run)
    assert [(f.rule, f.host, f.url) for f in findings] == [
        ("SEC-006", "198.51.100.7", "tcp://198.51.100.7:443"),
        ("SEC-006", "t.tool.example", "dns://t.tool.example"),
        ("SEC-006", "2001:db8::5", "tcp://[2001:db8::5]:8443"),
        ("SEC-006", "", "unix:///run/systemd/resolve/io.systemd.Resolve"),
    ]
    assert all(f.severity == "high" and "bypassing the proxy" in f.detail for f in findings)
    assert "python3 (pid 41)" in findings[0].detail
    # the run's security rules include them (and ids are stable for the same destination)
    assert {f.id for f in findings} <= {f.id for f in security_rules(run)}
    assert [f.id for f in bypass_rules(run_facts(witness.events(log, None)))] == [f.id for f in findings]


def test_no_events_no_findings():
    assert bypass_rules(run_facts([{"event": "ready"}, {"event": "sinkhole", "host": "x"}])) == []


@pytest.mark.skipif(witness.unavailable() is not None, reason=f"strace unusable: {witness.unavailable()}")
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_real_strace_sees_direct_attempts(tmp_path):
    """A real program under the witness, inside a network namespace with no route out (so the
    attempts fail at once and nothing leaves the machine)."""
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(1)\n"
        "try: s.connect(('198.51.100.7', 443))\n"
        "except OSError: pass\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try: u.sendto(QUERY, ('198.51.100.53', 53))\n"
        "except OSError: pass\n"
    ).replace("QUERY", repr(query("witnessed.example")))
    log = tmp_path / witness.LOG_NAME
    r = subprocess.run(["unshare", "--net", *witness.prefix(log), sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60)
    if r.returncode and "unshare" in r.stderr:
        pytest.skip(f"cannot create a network namespace here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    events = witness.events(log, None)
    assert ("198.51.100.7", 443) in {(e.get("address"), e.get("port")) for e in events}
    assert "witnessed.example" in {e.get("dns_name") for e in events}
    json.dumps(events)  # events are written to events.jsonl as they are
