"""gzip, deflate, zlib, brotli and zstd, by Content-Encoding or by magic bytes.

mitmproxy.net.encoding decompresses without an output bound; a 10 kB bomb would become gigabytes
here, so each codec is driven directly with a maximum output size (Ctx.cap) and a truncated
result is still scanned, with a note saying where it was cut.
"""

from __future__ import annotations

import zlib

import brotli

try:
    from compression import zstd  # Python 3.14+
except ImportError:  # pragma: no cover - depends on the interpreter
    from backports import zstd

from . import Child, Ctx, Layer, Meta, child


def _zlib(data: bytes, wbits: int, cap: int) -> bytes:
    d = zlib.decompressobj(wbits)
    try:
        return d.decompress(data, cap + 1)
    except zlib.error as e:
        raise ValueError(str(e)) from None


def _deflate(data: bytes, cap: int) -> bytes:
    # Servers disagree on whether "deflate" means zlib-wrapped or raw deflate; accept both.
    try:
        return _zlib(data, zlib.MAX_WBITS, cap)
    except ValueError:
        return _zlib(data, -zlib.MAX_WBITS, cap)


def _brotli(data: bytes, cap: int) -> bytes:
    try:
        return brotli.Decompressor().process(data, output_buffer_limit=cap + 1)[:cap + 1]
    except brotli.error as e:
        raise ValueError(str(e)) from None


def _zstd(data: bytes, cap: int) -> bytes:
    try:
        return zstd.ZstdDecompressor().decompress(data, max_length=cap + 1)
    except (zstd.ZstdError, EOFError) as e:
        raise ValueError(str(e)) from None


CODECS = {
    "gzip": lambda d, cap: _zlib(d, 16 + zlib.MAX_WBITS, cap),
    "x-gzip": lambda d, cap: _zlib(d, 16 + zlib.MAX_WBITS, cap),
    "deflate": _deflate,
    "zlib": lambda d, cap: _zlib(d, zlib.MAX_WBITS, cap),
    "br": _brotli,
    "zstd": _zstd,
}


def inflate(layer: Layer, codec: str, ctx: Ctx) -> Layer:
    cap = ctx.cap(len(layer.data))
    out = CODECS[codec](layer.data, cap)
    if not out and layer.data:
        raise ValueError(f"{codec}: no output")
    if len(out) > cap:
        ctx.limit(f"{layer.location}: {codec} output cut at {cap} bytes (limits max_ratio "
                  f"{ctx.limits.max_ratio}, max_layer_bytes {ctx.limits.max_layer_bytes}, max_exchange_bytes "
                  f"{ctx.limits.max_exchange_bytes})")
        out = out[:cap]
    return child(layer, out, "gzip" if codec == "x-gzip" else codec)


class ContentEncoding:
    name = "content-encoding"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        return bool(meta.content_encoding) and meta.content_encoding.strip().lower() != "identity"

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        codecs = [c.strip().lower() for c in meta.content_encoding.split(",") if c.strip()]
        for codec in reversed(codecs):  # applied in the order listed, so peeled in reverse
            if codec == "identity":
                continue
            if codec not in CODECS:
                raise ValueError(f"unknown content-encoding {codec}")
            layer = inflate(layer, codec, ctx)
        # The type still applies to the decoded body; the encoding does not.
        return [(layer, Meta(content_type=meta.content_type))]


def sniff(data: bytes) -> str:
    """The codec whose magic bytes start data, or ""."""
    if data[:3] == b"\x1f\x8b\x08":
        return "gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) > 2 and data[0] == 0x78 and data[1] in (0x01, 0x5E, 0x9C, 0xDA) \
            and (data[0] << 8 | data[1]) % 31 == 0:
        return "zlib"
    return ""


class Magic:
    """Compressed bytes nobody labelled: inside base64, protobuf fields, raw streams."""

    name = "compressed"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        return bool(sniff(layer.data))

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        return [(inflate(layer, sniff(layer.data), ctx), Meta())]


CONTENT_ENCODING = ContentEncoding()
MAGIC = Magic()
