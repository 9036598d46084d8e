"""Syscall witness for proxy mode: strace of connect/send* on the whole process tree of each step.

The explicit proxy neither sees nor blocks a program that connects directly. strace does see the
attempt: every connect() to an address other than the proxy, and every DNS query sent to a
resolver, is turned into a `direct` event (SEC-006). The raw log stays in the run directory as the
ground truth; `events(log, proxy)` is a pure function of it, so it can be re-derived offline.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

LOG_NAME = "witness.strace"
# -xx prints every string byte as \xHH, so payloads and names parse without guessing at escapes;
# -yy adds the socket's endpoints to each descriptor (the destination of a connected UDP socket);
# -Y the command name of each process; --seccomp-bpf stops the tracee only on traced syscalls.
STRACE_ARGS = ("-f", "-qq", "-A", "-Y", "-yy", "-xx", "-s", "512", "-e", "signal=none",
               "-e", "trace=connect,sendto,sendmsg,sendmmsg")
RESOLVER_SOCKETS = ("/run/nscd/socket", "/var/run/nscd/socket", "/run/systemd/resolve/io.systemd.Resolve")

_HEX = r"((?:\\x[0-9a-f]{2})*)"
_LINE = re.compile(r"^(\d+)<" + _HEX + r"> (connect|sendto|sendmsg|sendmmsg)"
                   r"\((\d+)<([^<>\[]*\[[^\]]*\])>, (.*)$")
_INET = re.compile(r"sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\(\"" + _HEX + r"\"\)")
_INET6 = re.compile(r"sa_family=AF_INET6, sin6_port=htons\((\d+)\),.*?inet_pton\(AF_INET6, \"" + _HEX + r"\"")
_UNIX = re.compile(r"sa_family=AF_UNIX, sun_path=@?\"" + _HEX + r"\"")
_PEER = re.compile(r"^(TCP|UDP|TCPv6|UDPv6):\[.*->\[?([0-9a-fA-F.:]+?)\]?:(\d+)\]$")
_DATA = re.compile(r"(?:^|iov_base=)\"" + _HEX + r"\"")
_RESULT = re.compile(r"\) = (-?\d+)(?: (E[A-Z0-9]+))?")


def _bytes(hexed: str) -> bytes:
    return bytes.fromhex(hexed.replace("\\x", ""))


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why the witness cannot run here (strace missing or ptrace not permitted), or None."""
    strace = shutil.which("strace")
    if not strace:
        return ("strace not found: proxy mode cannot even detect direct connections; "
                "apt-get install --no-install-recommends strace")
    try:
        r = subprocess.run([strace, *STRACE_ARGS, "--seccomp-bpf", "-o", "/dev/null", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"strace could not run: {e}"
    if r.returncode:
        return "strace cannot trace here (ptrace not permitted?): " + r.stderr.strip()[-200:]
    return None


def prefix(log: Path) -> list[str]:
    """argv that runs a step under the witness, appending to log (steps share one log)."""
    return [shutil.which("strace") or "strace", *STRACE_ARGS, "--seccomp-bpf", "-o", str(log), "--"]


def dns_question(payload: bytes) -> str:
    """The first question name of a DNS query (UDP, or TCP with its length prefix); "" if none."""
    for data in (payload, payload[2:]):
        if len(data) < 17 or data[2] & 0x80 or int.from_bytes(data[4:6], "big") < 1:
            continue
        labels, i = [], 12
        while i < len(data) and data[i]:
            n = data[i]
            if n > 63 or i + 1 + n > len(data):
                labels = []
                break
            labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        if labels:
            return ".".join(labels).lower()
    return ""


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def parse(lines: Iterator[str]) -> Iterator[dict]:
    """Every network attempt in an strace log: pid, process, syscall, family, address, port, …"""
    for line in lines:
        m = _LINE.match(line.rstrip("\n"))
        if not m:
            continue  # resumed halves, exits, lines torn by a killed tracer
        pid, comm, call, _fd, fdinfo, rest = m.groups()
        res = _RESULT.search(rest)
        attempt = {"pid": int(pid), "process": _bytes(comm).decode("utf-8", "replace"), "syscall": call,
                   "result": (res.group(2) or res.group(1)) if res else "unfinished"}
        if fdinfo.startswith(("TCP", "UDP")):
            attempt["transport"] = "udp" if fdinfo.startswith("UDP") else "tcp"
        if (a := _INET.search(rest)) or (a := _INET6.search(rest)):
            attempt.update(family="inet6" if "AF_INET6" in a.group(0) else "inet",
                           address=_bytes(a.group(2)).decode(), port=int(a.group(1)))
        elif (u := _UNIX.search(rest)) and call == "connect":
            attempt.update(family="unix", path=_bytes(u.group(1)).decode("utf-8", "replace"))
        elif p := _PEER.match(fdinfo):  # a send on a connected socket: its peer is in the fd info
            attempt.update(family="inet6" if p.group(1).endswith("v6") else "inet", address=p.group(2),
                           port=int(p.group(3)))
        else:
            continue
        if call != "connect":
            payloads = [_bytes(d) for d in _DATA.findall(rest)]
            attempt["bytes"] = sum(len(d) for d in payloads)
            if attempt.get("port") == 53 and payloads:
                attempt["dns_name"] = dns_question(payloads[0])
        yield attempt


def events(log: Path, proxy: tuple[str, int] | None) -> list[dict]:
    """`direct` events: attempts that bypassed the proxy, one per destination (first seen)."""
    out, seen = [], set()
    try:
        fo = open(log, encoding="ascii", errors="replace")
    except OSError:
        return []
    with fo:
        for a in parse(fo):
            if a["family"] == "unix":
                # Lookups handed to a host resolver daemon leave the machine on our behalf.
                if a["path"] not in RESOLVER_SOCKETS or a["result"] != "0":
                    continue
            elif proxy and (a["address"], a["port"]) == tuple(proxy):
                continue
            elif _is_loopback(a["address"]) and a["port"] != 53:
                continue  # a local service is not egress; a local resolver forwards out
            key = (("dns", a["dns_name"]) if a.get("dns_name")
                   else (a.get("address"), a.get("port"), a.get("path")))
            if key in seen:
                continue
            seen.add(key)
            out.append({"event": "direct", **a})
    return out
