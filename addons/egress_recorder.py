"""mitmproxy addon shim: `mitmdump -s addons/egress_recorder.py` records like an audit does."""
from auditor.capture import Recorder

addons = [Recorder()]
