#!/usr/bin/env bash
# Installs what the test suite needs that `go test` cannot fetch itself:
# the PostgreSQL server binaries (tests start throwaway clusters with
# initdb/pg_ctl), the deploy files' validators and the npm-packaged
# emulators. Idempotent and quiet when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: PostgreSQL server binaries missing; run: sudo apt-get install postgresql" >&2
        exit 1
    fi
    echo "install-deps: installing PostgreSQL server packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The server package also brings what the replica-lag tests use:
# test_decoding (logical slots), and through postgresql-client
# pg_basebackup, pg_receivewal and pg_recvlogical.

# strace: TestFileArchiveFlushedBeforeCommit traces the real binary's
# fsync, rename and commit order.
if ! command -v strace >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: strace missing; run: sudo apt-get install strace" >&2
        exit 1
    fi
    echo "install-deps: installing strace"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
fi

# The validators go test ./deploy runs on the deploy files: promtool (from
# Debian's prometheus package, the only one that ships it) for the alert
# rules and their unit tests, systemd-analyze for the units. Without
# recommends the prometheus package is the binaries and a few JavaScript
# libraries; its service is not started in a container without systemd.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: ${missing[*]} missing; run: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash .ci/install-emulators.sh

# DuckDB from npm for the query-in-place recipe tests (TestDuckDBRecipes),
# pinned; the npm package ships its native library
# (@duckdb/node-bindings-linux-x64), so nothing is downloaded at run time.
# The test looks in .tmp/duckdb (or $ARCHIVER_DUCKDB_DIR) and installs the
# same version there itself when it is missing.
DUCKDB_NODE_API_VERSION=1.5.6-r.1
duckdb_dir="${ARCHIVER_DUCKDB_DIR:-.tmp/duckdb}"
if ! grep -qs "\"version\": \"${DUCKDB_NODE_API_VERSION}\"" "${duckdb_dir}/node_modules/@duckdb/node-api/package.json"; then
    echo "install-deps: npm install @duckdb/node-api@${DUCKDB_NODE_API_VERSION} into ${duckdb_dir}"
    npm install --prefix "${duckdb_dir}" --no-audit --no-fund --loglevel=error "@duckdb/node-api@${DUCKDB_NODE_API_VERSION}"
fi
