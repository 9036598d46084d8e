"""Test-only mitmdump addon, loaded after the recorder: forwarded connections to the names in
`test_loopback_names` reach 127.0.0.1 (the test registry), since `.example` names resolve nowhere."""
from collections.abc import Sequence

from mitmproxy import ctx


class LoopbackResolver:
    def load(self, loader):
        loader.add_option("test_loopback_names", Sequence[str], [], "Names that mean 127.0.0.1.")

    def server_connect(self, data):
        host, port = data.server.address[:2]
        if host in ctx.options.test_loopback_names:
            data.server.address = ("127.0.0.1", port)


addons = [LoopbackResolver()]
