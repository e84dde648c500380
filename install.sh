#!/usr/bin/env bash
# Quick start, step 1: installs what netwatcher needs and starts it.
#   - Debian packages tcpdump, iproute2, gcc and libc6-dev, when missing (needs root, as the agent does);
#   - the npm packages (from package-lock.json), then builds dist/, nw-capture included (the engine's own
#     capture writer, compiled with gcc; without a compiler the build says so and captures use tcpdump);
#   - puts `nw` on the PATH (npm link);
#   - runs `nw up` with any arguments given here (e.g. bash install.sh --listen 0.0.0.0:8817).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for pkg in tcpdump iproute2 gcc libc6-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "installing npm packages…" >&2
npm ci --no-audit --no-fund --no-update-notifier --loglevel=error
echo "building…" >&2
npm run --silent --no-update-notifier build
npm link --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
exec ./bin/nw.js up "$@"
