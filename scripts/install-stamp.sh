#!/usr/bin/env bash
# What scripts/setup.sh compares with node_modules/.trove-setup to decide whether `npm ci` must run:
# the lock file, the patches npm ci applies (patches/, package.json's prepare) and the Node ABI
# (better-sqlite3 is native). test/e2e/readme.ts writes it into its copy's install the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "$(cat package-lock.json patches/* | sha256sum | cut -d' ' -f1) node-abi-$(node -p process.versions.modules)"
