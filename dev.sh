#!/usr/bin/env bash
# Set-up and entry points. Idempotent: every command first makes sure the environment is ready.
#   ./dev.sh demo        set up, then audit the bundled demo program into reports/demo/
#   ./dev.sh test        set up, then run the default test suite
#   ./dev.sh realworld   set up, then run the heavy real-world audits (installs real tools)
#   ./dev.sh setup       only set up
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

say() { printf 'dev.sh: %s\n' "$*" >&2; }

py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${PYTHON:-}" python3.13 python3.12 python3 python; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && py_ok "$(command -v "$c")" && { command -v "$c"; return; }
  done
  # pyenv and similar keep interpreters that are installed but not active.
  local root
  root=$( (pyenv root 2>/dev/null) || echo "$HOME/.pyenv")
  for c in "$root"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9] \
           "$HOME"/.local/share/uv/python/cpython-3.1[2-9]*/bin/python3; do
    [ -x "$c" ] && py_ok "$c" && { echo "$c"; return; }
  done
  return 1
}

apt_install() {
  # Only what is missing; --no-install-recommends keeps udev/systemd off the machine.
  local missing=() pkg cmd
  for pair in git:git strace:strace tcpdump:tcpdump ip:iproute2 nft:nftables curl:curl bwrap:bubblewrap; do
    cmd=${pair%%:*}; pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing tools: ${missing[*]} (install them for full capture; \`egress-audit doctor\` explains)"
  fi
}

test_tools() {
  # The report's layout test drives a real browser: Debian's chromium and its WebDriver.
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium chromium-driver (for the report layout test)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
      || say "note: chromium could not be installed; the report layout test will be skipped"
  else
    say "note: chromium and chromedriver not found; the report layout test will be skipped"
  fi
}

setup() {
  apt_install
  if [ ! -x "$VENV/bin/python" ] || ! py_ok "$VENV/bin/python"; then
    local py
    py=$(find_python) || { say "error: egress-auditor needs Python >= 3.12 (mitmproxy 12 does); none found. Install one (e.g. 'pyenv install 3.12') or set PYTHON=/path/to/python3.12"; exit 2; }
    say "creating $VENV with $py"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing egress-auditor and its pinned dependencies"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$want" > "$stamp"
  fi
  # Node preload for proxy mode (Node's fetch ignores HTTPS_PROXY): undici + global-agent.
  local mods="$VENV/share/egress-auditor"
  if command -v npm >/dev/null 2>&1 && [ ! -d "$mods/node_modules/global-agent" ]; then
    mkdir -p "$mods"
    npm install --silent --no-audit --no-fund --prefix "$mods" undici@6 global-agent@3 >/dev/null 2>&1 \
      || say "note: npm install of the Node proxy preload failed; Node clients are only seen with --capture tun"
  fi
}

cmd=${1:-demo}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/egress-audit" demo "$@" ;;
  test) setup; test_tools; exec "$VENV/bin/python" -m pytest -m "not realworld" "$@" ;;
  realworld) setup; exec "$VENV/bin/python" -m pytest -m realworld "$@" ;;
  *) say "usage: ./dev.sh demo|test|realworld|setup"; exit 2 ;;
esac
