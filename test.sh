#!/usr/bin/env bash
# Quick start, step 2: runs the whole test suite (unit, property and end-to-end tests).
# Installs what the tests need when missing: Debian's tcpdump, gcc and libc6-dev (npm test's build compiles
# nw-capture, the engine's own capture writer, which the capture tests run), iproute2, iputils-ping, iperf3,
# Prometheus, Alertmanager and node_exporter (the idle-agent reference), OpenStack Swift (S3 API),
# Chromium (the portal's browser test), tshark (the analysis tests compare with it),
# HAProxy (the load balancer in front of three server replicas: test/replicas.test.ts),
# the Azure CLI (with the Azure SDK for Python)
# (test hosts are Linux network namespaces, so run as root) and the npm packages.
# PostgreSQL store tests use NW_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# outside CI they are skipped with a notice when no server answers there.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for pkg in tcpdump gcc libc6-dev iproute2 iputils-ping iperf3 prometheus prometheus-alertmanager prometheus-node-exporter tshark haproxy; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Debian's Chromium: the portal's end-to-end test drives it headless with playwright-core (no browser download).
dpkg -s chromium >/dev/null 2>&1 || missing+=(chromium)
# The real Azure CLI (it brings python3-azure, the Azure SDK for Python): test/az-*.test.ts.
dpkg -s azure-cli >/dev/null 2>&1 || missing+=(azure-cli)
# OpenStack Swift with its S3 API: the S3-compatible server the storage tests run against.
for pkg in swift-proxy swift-object swift-container swift-account; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
fi
exec npm test --silent --no-update-notifier -- "$@"
