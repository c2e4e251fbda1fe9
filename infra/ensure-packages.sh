#!/usr/bin/env bash
# Installs what infra/local.sh needs from the system's packages, and only what is missing:
# a Java runtime (Kafka 3.9 runs on Java 11, 17 or 21), Maven (fetches the broker's jars once), Redis,
# Debian's crowdsec-custom-bouncer (the API's integration test runs the real bouncer against it) and
# Debian's chromium (services/api/test/dashboard-browser.test.ts drives it with playwright-core; the
# test is skipped without it, and playwright's own browser download is not used), and nginx (the
# shipper's socket input is tested against what a real nginx sends).
# For CI machines and fresh Debian/Ubuntu boxes; everywhere else, install them yourself.
#
#   bash infra/ensure-packages.sh            # as root, or through sudo when available
#   bash infra/ensure-packages.sh --dry-run  # only print what it would install
#
# Redis is skipped when REDIS_URL (default redis://127.0.0.1:6379) already answers, e.g. a CI service.
set -euo pipefail

REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
dry_run=false
[[ "${1:-}" == --dry-run ]] && dry_run=true

say() { printf 'infra: packages: %s\n' "$*"; }

missing=()
java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1 || true)"
if [[ -z "$java_major" || "$java_major" -lt 11 ]]; then
  # The distribution's default JRE: 17 on Debian 12, 21 on Ubuntu 24.04, all fine for Kafka 3.9.
  missing+=(default-jre-headless)
fi
command -v mvn >/dev/null || missing+=(maven)
# --no-install-recommends (below) matters here: the bouncer recommends the crowdsec agent, whose
# postinst needs the internet (hub download) and fails to configure offline.
[[ -x /usr/bin/crowdsec-custom-bouncer ]] || missing+=(crowdsec-custom-bouncer)
# The dashboard's browser test; --no-install-recommends keeps it to the browser (no desktop extras).
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
# A real nginx for the shipper's socket test (test/integration/shipper-socket.test.ts runs it with a
# config of its own, logging to the shipper over syslog). Where services may start on install (no
# policy-rc.d), Debian's package starts one on port 80; the test never uses it.
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ! command -v redis-server >/dev/null; then
  if command -v redis-cli >/dev/null && [[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]; then
    say "redis-server not installed, but $REDIS_URL answers: not installing it"
  else
    missing+=(redis-server) # also brings redis-cli (redis-tools)
  fi
fi

if ((${#missing[@]} == 0)); then
  say "java ${java_major}, maven, redis, crowdsec-custom-bouncer, chromium and nginx are present; nothing to install"
  exit 0
fi
command -v apt-get >/dev/null ||
  {
    say "missing: ${missing[*]}; this script only knows apt-get, install them with your package manager" >&2
    exit 1
  }

as_root=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || {
    say "missing: ${missing[*]}; run this script as root (no sudo here)" >&2
    exit 1
  }
  as_root=(sudo)
fi

if $dry_run; then
  say "would run: ${as_root[*]} apt-get update && ${as_root[*]} apt-get install -y --no-install-recommends ${missing[*]}"
  exit 0
fi
say "installing: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
say "installed: ${missing[*]}"
