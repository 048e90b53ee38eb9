#!/usr/bin/env bash
# Installs the storage emulators the backend tests need and cannot get from
# the Go module proxy. Idempotent: does nothing when they are already there.
#
#   Azurite (Azure Blob emulator), from npm, pinned. The S3 (gofakes3) and GCS
#   (fake-gcs-server) emulators are Go modules that run inside the test binary
#   and need no install step.
#
# Run as root on CI (npm -g writes to the system prefix). Needs node and npm.
set -euo pipefail

# 3.35.0 is the newest release whose package.json still supports Node 20
# (3.36 wants Node 21+, 3.37 Node 22+), which is what these machines have.
AZURITE_VERSION=3.35.0

if command -v azurite-blob >/dev/null 2>&1; then
    echo "install-emulators: azurite-blob already on PATH ($(command -v azurite-blob), $(azurite-blob --version 2>/dev/null || echo 'version unknown')); not installing"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-emulators: npm not found; install Node.js 18+ with npm first (e.g. apt-get install -y nodejs npm)" >&2
    exit 1
fi

echo "install-emulators: npm install -g azurite@${AZURITE_VERSION}"
npm install -g --no-audit --no-fund --loglevel=error "azurite@${AZURITE_VERSION}"

if ! command -v azurite-blob >/dev/null 2>&1; then
    echo "install-emulators: azurite installed but azurite-blob is not on PATH; add $(npm prefix -g)/bin to PATH" >&2
    exit 1
fi
echo "install-emulators: azurite-blob $(azurite-blob --version) at $(command -v azurite-blob)"
