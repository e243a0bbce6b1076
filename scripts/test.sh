#!/usr/bin/env bash
# Runs every test of the gateway on a fresh machine: installs what the tests need (nc, socat, ss, openssl, Chromium, Prometheus, nats-server
# and the Node clients' npm packages), builds, runs the unit tests (Gateway.UnitTests, Gateway.Protocols.Tests) once and the
# hostile suite (Gateway.HostileTests) and the functional tests (Gateway.Tests) once on each transport, and ends with the line
# "N passed, N failed" for the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
nc -h 2>&1 | grep -q OpenBSD || need_apt+=(netcat-openbsd)
command -v socat >/dev/null || need_apt+=(socat)
command -v ss >/dev/null || need_apt+=(iproute2)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v chromium >/dev/null || need_apt+=(chromium)
# The metrics test starts a real Prometheus server and asks its query API.
command -v prometheus >/dev/null || need_apt+=(prometheus)
# The backplane tests start real NATS servers (clusters, credentials, TLS).
command -v nats-server >/dev/null || need_apt+=(nats-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The Node clients' npm packages (the `ws` WebSocket client), pinned by package-lock.json.
npm ci --prefix tests/Gateway.Tests/Interop --no-audit --no-fund --loglevel=error

results=.test-results
rm -rf "$results"; mkdir -p "$results"
dotnet build Gateway.sln -c Release -nologo -v quiet

status=0
runs=()
# Runs one test project with a TRX file and a console log of its own, named after the run.
# Usage: run_tests NAME PROJECT [env arguments: NAME=VALUE or -u NAME ...]
run_tests() {
  local name=$1 project=$2
  shift 2
  runs+=("$name")
  env "$@" dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" 2>&1 | tee "$results/$name.log" || status=$?
}

run_tests unit tests/Gateway.UnitTests
run_tests protocols tests/Gateway.Protocols.Tests
# The hostile suite attacks a gateway process as an attacker would, at a reduced scale (HOSTILE_SCALE=full: the README's figures),
# on each transport as the functional tests below are: an attack meets the transport's accept, read and close paths first.
run_tests hostile tests/Gateway.HostileTests -u Gateway__Transport__Kind
run_tests hostile-sockets tests/Gateway.HostileTests Gateway__Transport__Kind=Sockets
# The functional tests run twice because the gateway supports two transports: its own epoll one (the default on Linux)
# and Kestrel's sockets. A test that names no transport would otherwise only ever meet the default. The environment
# reaches the in-process hosts and the gateway processes the tests start; a test that names a transport still gets it.
run_tests functional-epoll tests/Gateway.Tests -u Gateway__Transport__Kind
run_tests functional-sockets tests/Gateway.Tests Gateway__Transport__Kind=Sockets

# CI keeps only the tail of this output: repeat each failed test's name and message there, under the run it failed in.
failed_pattern='^\s+Failed [A-Za-z_]'
if grep -qE "$failed_pattern" "$results"/*.log; then
  echo "Failed tests:"
  for name in "${runs[@]}"; do
    grep -qE "$failed_pattern" "$results/$name.log" || continue
    echo "In the $name run:"
    grep -A 15 -E "$failed_pattern" "$results/$name.log" | grep -vE '^\s+at (System|Xunit|Microsoft)\.' || true
  done | head -120 || true
fi

# Sum the counters of every TRX file: <Counters total=".." passed=".." failed=".." ...>
passed=0; failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
