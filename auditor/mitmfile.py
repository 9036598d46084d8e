"""Fast, splittable reading of mitmproxy `.mitm` flow files.

A `.mitm` file is a sequence of tnetstrings (`<length>:<payload><type>`), one per flow, so record
boundaries can be found from the length prefixes alone: `split` cuts a file into byte ranges
without parsing a flow, and workers read their range on their own.

mitmproxy's own reader spends most of its time validating types while it builds full Flow objects
(~0.4 ms per flow). `exchanges` reads each record with a parser that skips what analysis never
uses (certificates, cipher lists, …) and builds the flow's request, response and messages
directly, then normalises it with the same `flowstore.from_flow` as the reference path. Records of
another format version, or of a kind it does not know (DNS among them), go through mitmproxy's
reader. `tests/test_mitmfile.py` compares both on every capture the tests produce.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from mitmproxy import connection, flow, http, tcp, udp, websocket
from mitmproxy.io import compat, tnetstring
from mitmproxy.version import FLOW_FORMAT_VERSION

from .flowstore import Exchange, from_flow

_HEADER_MAX = 20  # digits of a record's length prefix, and its colon
_CONN_KEYS = {"sni", "tls", "timestamp_start", "timestamp_tls_setup", "address", "peername"}


class RecordError(ValueError):
    """The file is not a sequence of whole tnetstring records at this offset."""


def record_end(fo, offset: int) -> int:
    """The offset just after the record that starts at offset."""
    fo.seek(offset)
    head = fo.read(_HEADER_MAX)
    colon = head.find(b":")
    if colon <= 0 or not head[:colon].isdigit():
        raise RecordError(f"no record length at byte {offset}")
    return offset + colon + 1 + int(head[:colon]) + 1


def _open(path: Path):
    from .outfiles import open_read

    return open_read(path)  # never through a link, only a regular file


def split(path: Path, chunk_bytes: int) -> tuple[list[tuple[int, int]], int, str]:
    """Byte ranges of whole records, each about chunk_bytes long (one record may be longer); the
    number of records; and, for a torn or damaged file, what is wrong after the last whole record
    ("" when the file is whole). Only the length prefixes are read."""
    ranges: list[tuple[int, int]] = []
    n, damage = 0, ""
    with _open(path) as fo:
        size = os.fstat(fo.fileno()).st_size
        start = pos = 0
        while pos < size:
            try:
                end = record_end(fo, pos)
            except RecordError as e:
                damage = str(e)
                break
            if end > size:
                damage = f"the record at byte {pos} is cut off at byte {size}"
                break
            n += 1
            pos = end
            if pos - start >= chunk_bytes:
                ranges.append((start, pos))
                start = pos
    if pos > start:
        ranges.append((start, pos))
    return ranges, n, damage


def records(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The raw records between two boundaries found by `split` (RecordError at damage)."""
    with _open(path) as fo:
        end = os.fstat(fo.fileno()).st_size if end is None else end
        pos = start
        while pos < end:
            stop = record_end(fo, pos)
            fo.seek(pos)
            data = fo.read(stop - pos)
            if len(data) != stop - pos or stop > end:
                raise RecordError(f"the record at byte {pos} is cut off")
            yield data
            pos = stop


# ---- tnetstring, parsed only as deep as needed -------------------------------------------------

def _value(data: bytes, pos: int) -> tuple[object, int]:
    colon = data.index(b":", pos, pos + _HEADER_MAX)
    start = colon + 1
    stop = start + int(data[pos:colon])
    tag = data[stop]
    if tag == 44:  # , bytes
        return data[start:stop], stop + 1
    if tag == 59:  # ; str
        return data[start:stop].decode("utf-8", "surrogateescape"), stop + 1
    if tag == 125:  # } dict
        return _dict(data, start, stop, None), stop + 1
    if tag == 93:  # ] list
        items, p = [], start
        while p < stop:
            v, p = _value(data, p)
            items.append(v)
        return items, stop + 1
    if tag == 35:  # # int
        return int(data[start:stop]), stop + 1
    if tag == 94:  # ^ float
        return float(data[start:stop]), stop + 1
    if tag == 33:  # ! bool
        return data[start:stop] == b"true", stop + 1
    if tag == 126:  # ~ None
        return None, stop + 1
    raise RecordError(f"unknown tnetstring type {chr(tag)!r}")


def _skip(data: bytes, pos: int) -> int:
    colon = data.index(b":", pos, pos + _HEADER_MAX)
    return colon + 1 + int(data[pos:colon]) + 1


def _dict(data: bytes, start: int, stop: int, wanted: set[str] | None) -> dict:
    out, p = {}, start
    while p < stop:
        key, p = _value(data, p)
        if wanted is None or key in wanted:
            out[key], p = _value(data, p)
        else:
            p = _skip(data, p)
    return out


def _top(record: bytes) -> dict:
    colon = record.index(b":", 0, _HEADER_MAX)
    if record[-1] != 125:
        raise RecordError("a record is not a dictionary")
    out, p, stop = {}, colon + 1, len(record) - 1
    while p < stop:
        key, p = _value(record, p)
        if key in ("client_conn", "server_conn"):
            colon = record.index(b":", p, p + _HEADER_MAX)
            end = colon + 1 + int(record[p:colon])
            out[key] = _dict(record, colon + 1, end, _CONN_KEYS)
            p = end + 1
        else:
            out[key], p = _value(record, p)
    return out


# ---- flows without mitmproxy's type checks -----------------------------------------------------

def _bare(cls, **attrs):
    """An instance of cls with exactly these attributes: the state was written by mitmproxy itself,
    and only the attributes that flowstore.from_flow reads are needed."""
    obj = object.__new__(cls)
    obj.__dict__.update(attrs)
    return obj


def _headers(fields) -> http.Headers:
    return http.Headers(tuple((k, v) for k, v in fields))


def _message(cls, data_cls, state: dict):
    state = dict(state, headers=_headers(state["headers"]),
                 trailers=_headers(state["trailers"]) if state.get("trailers") is not None else None)
    return _bare(cls, data=_bare(data_cls, **state), stream=False)


def _connection(cls, state: dict):
    return _bare(cls, sni=state.get("sni"), tls=bool(state.get("tls")),
                 timestamp_start=state.get("timestamp_start"), timestamp_tls_setup=state.get("timestamp_tls_setup"),
                 address=tuple(state["address"]) if state.get("address") else None,
                 peername=tuple(state["peername"]) if state.get("peername") else None)


def _flow(state: dict):
    kind = state.get("type")
    common = dict(id=state["id"], metadata=state.get("metadata") or {},
                  error=flow.Error(**state["error"]) if state.get("error") else None,
                  client_conn=_connection(connection.Client, state["client_conn"]),
                  server_conn=_connection(connection.Server, state["server_conn"]))
    if kind == "http":
        ws = state.get("websocket")
        return _bare(http.HTTPFlow, **common,
                     request=_message(http.Request, http.RequestData, state["request"]),
                     response=_message(http.Response, http.ResponseData, state["response"])
                     if state.get("response") else None,
                     websocket=_bare(websocket.WebSocketData, messages=[
                         websocket.WebSocketMessage(*m) for m in ws["messages"]]) if ws else None)
    if kind in ("tcp", "udp"):
        cls, msg = (tcp.TCPFlow, tcp.TCPMessage) if kind == "tcp" else (udp.UDPFlow, udp.UDPMessage)
        return _bare(cls, **common, messages=[msg(*m) for m in state["messages"]])
    return None


def reference(record: bytes):
    """mitmproxy's own reading of one record: migrated to the current format, full Flow object."""
    return flow.Flow.from_state(compat.migrate_flow(tnetstring.loads(record)))


def exchange(record: bytes, scenario: str = "", variant: str = "") -> Exchange | None:
    """RecordError if the record is not a flow (the file is damaged here); any other exception
    means a flow that was read but cannot be normalised (that flow alone is lost)."""
    try:
        state = _top(record)
        f = _flow(state) if state.get("version") == FLOW_FORMAT_VERSION else None
        if f is None:
            f = reference(record)
    except RecordError:
        raise
    except Exception as e:  # a record mitmproxy did not write, or from a version it cannot migrate
        raise RecordError(f"not a flow record ({type(e).__name__}: {e})") from None
    return from_flow(f, scenario, variant)


def exchanges(path: Path, scenario: str = "", variant: str = "", start: int = 0,
              end: int | None = None) -> Iterator[Exchange]:
    """The exchanges of the records in [start, end); RecordError where the file is damaged."""
    for record in records(path, start, end):
        ex = exchange(record, scenario, variant)
        if ex is not None:
            yield ex
