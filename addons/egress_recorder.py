"""mitmproxy addon shim: `mitmdump -s addons/egress_recorder.py` records like an audit does."""
from auditor.capture import Recorder
from auditor.forward_cache import ForwardCache

addons = [Recorder(), ForwardCache()]  # in this order: the cache acts only on what the Recorder forwards
