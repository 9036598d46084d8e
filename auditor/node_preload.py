"""Make Node.js honour the proxy variables in `proxy` capture mode.

Node 20's fetch and https ignore HTTPS_PROXY. A `--require` preload sets undici's
EnvHttpProxyAgent as the global fetch dispatcher and global-agent for http/https. Both packages are
installed by the set-up (`make setup`) into the environment's share/egress-auditor/node_modules;
without them Node clients are simply not proxied and the run's coverage note says so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PRELOAD = """\
// egress-auditor proxy preload: route Node's fetch and http(s) through the audit proxy.
const mods = %s;
const emit = process.emitWarning;
try {
  // The agent warns that it is experimental on every start: noise in the audited tool's output.
  process.emitWarning = (w, ...rest) => (String(w).includes("EnvHttpProxyAgent") ? undefined : emit.call(process, w, ...rest));
  const { setGlobalDispatcher, EnvHttpProxyAgent } = require(mods + "/undici");
  setGlobalDispatcher(new EnvHttpProxyAgent());
} catch (e) {} finally { process.emitWarning = emit; }
try { require(mods + "/global-agent").bootstrap(); } catch (e) {}
"""


def modules_dir() -> Path:
    return Path(sys.prefix) / "share" / "egress-auditor" / "node_modules"


def available() -> bool:
    mods = modules_dir()
    return (mods / "undici").is_dir() and (mods / "global-agent").is_dir()


def env(state_dir: Path) -> dict[str, str]:
    if not available():
        return {}
    preload = state_dir / "node-proxy-preload.js"
    if not preload.exists():
        preload.write_text(PRELOAD % json.dumps(str(modules_dir())), encoding="utf-8")
    return {"NODE_OPTIONS": f"--require {preload}"}
