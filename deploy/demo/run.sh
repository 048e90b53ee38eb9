#!/usr/bin/env bash
# A local demo of the archiver's main job, on a throwaway PostgreSQL:
#   1. build bin/archiver (as make build does) and start a PostgreSQL 15
#      cluster in .demo/pg,
#   2. create the original service's schema and load 45 days of sample
#      measurements (50 sensors, one reading every 10 minutes, ~2% imputed),
#   3. archiver migrate up, then archiver archive to a local folder,
#   4. show the archive files, one archive's content, the manifest and the
#      status calendar,
#   5. leave the database running, write .demo/env and print how to go on
#      with the README's "Using it" and how to stop (make demo-stop).
# `run.sh stop` stops the database and removes .demo.
# Needs Go and the PostgreSQL server packages (installed with apt-get when
# missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEMO=$ROOT/.demo
ARCHIVES=$DEMO/archives

find_pg_bin() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}
PGBIN=$(find_pg_bin || true)
AS=()
# initdb refuses to run as root; run the server as the postgres user then.
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi

stop_demo() {
    if [ -n "$PGBIN" ] && [ -f "$DEMO/pg/data/postmaster.pid" ]; then
        "${AS[@]}" "$PGBIN/pg_ctl" -D "$DEMO/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
}
if [ "${1:-}" = stop ]; then
    stop_demo
    rm -rf "$DEMO"
    echo "== demo database stopped; .demo removed"
    exit 0
fi
if [ -z "$PGBIN" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "== installing PostgreSQL server packages"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        PGBIN=$(find_pg_bin)
    else
        echo "PostgreSQL server binaries not found: install them (sudo apt-get install postgresql)" >&2
        exit 1
    fi
fi

echo "== building bin/archiver (make build)"
make -s build
ARCHIVER=$ROOT/bin/archiver

# A demo left running by an earlier make demo is replaced.
stop_demo
rm -rf "$DEMO/pg" "$ARCHIVES"
mkdir -p "$DEMO/pg" "$ARCHIVES"
[ ${#AS[@]} -gt 0 ] && chown postgres "$DEMO/pg"
PORT=${DEMO_PG_PORT:-54329}
echo "== starting a throwaway PostgreSQL on port $PORT ($PGBIN)"
"${AS[@]}" "$PGBIN/initdb" -D "$DEMO/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DEMO/pg/data" -l "$DEMO/pg/log" -w \
    -o "-p $PORT -k $DEMO/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
# Stopped again only if the demo fails; on success it keeps running.
trap stop_demo EXIT

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
# The sample clean table has a surrogate id: declared not kept (restore gives new ids).
export ARCHIVER_CLEAN_IGNORE_COLUMNS=id
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL")

echo "== creating the schema and loading 45 days of sample measurements"
"${PSQL[@]}" -f internal/pgtest/schema.sql
"${PSQL[@]}" <<'SQL'
INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
SELECT 'sensor_' || lpad(s::text, 3, '0'),
       t,
       round((random() * 20)::numeric, 2)::float8,
       CASE WHEN random() < 0.05 THEN 1 ELSE 0 END,
       CASE WHEN random() < 0.02 THEN 'ARIMA' END
FROM generate_series(1, 50) s,
     generate_series(date_trunc('day', now()) - interval '45 days', now(), interval '10 minutes') t;
INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm)
SELECT 'sensor_' || lpad(s::text, 3, '0'), t, random() * 20
FROM generate_series(1, 50) s, generate_series(now() - interval '3 days', now(), interval '10 minutes') t;
SQL
"${PSQL[@]}" -c "SELECT count(*) AS clean_rows, min(ts)::date AS oldest, max(ts)::date AS newest FROM shizuku.clean_measurements"

echo "== archiver migrate up"
"$ARCHIVER" migrate up

echo "== archiver archive --bucket file://$ARCHIVES"
"$ARCHIVER" archive --bucket "file://$ARCHIVES"

echo "== archive files"
(cd "$ARCHIVES" && find . -name '*.json.gz' | sort | sed 's|^\./||' | head -5; echo "... $(find . -name '*.json.gz' | wc -l) files in all")
FIRST=$(cd "$ARCHIVES" && find . -name '*.json.gz' | sort | head -1)
echo "== the start of $FIRST"
{ gzip -dc "$ARCHIVES/$FIRST" || true; } | head -c 400 || true; echo " ..."

echo "== the manifest (archiver.archive_runs)"
"${PSQL[@]}" -c "SELECT kind, status, day, object_key, readings, sensors, rows_deleted, bytes, left(sha256, 12) AS sha256
                 FROM archiver.archive_runs ORDER BY id LIMIT 8"
"${PSQL[@]}" -c "SELECT count(*) AS clean_rows_left, min(ts)::date AS oldest_left FROM shizuku.clean_measurements"

echo "== a second run finds nothing to do"
"$ARCHIVER" archive --bucket "file://$ARCHIVES" 2>&1 | grep -E "Archive files created|Clean measurements deleted"

echo "== archiver status"
"$ARCHIVER" status --bucket "file://$ARCHIVES" || true

cat >"$DEMO/env" <<ENV
export DATABASE_URL='$DATABASE_URL'
export ARCHIVER_BUCKET='file://$ARCHIVES'
export ARCHIVER_CLEAN_IGNORE_COLUMNS=id
export PATH="$ROOT/bin:\$PATH"
ENV
trap - EXIT
cat <<DONE

== demo done. The database is still running, on port $PORT, so that the
== README's "Using it" works right away. In your shell:

export DATABASE_URL='$DATABASE_URL'
export ARCHIVER_BUCKET='file://$ARCHIVES' ARCHIVER_CLEAN_IGNORE_COLUMNS=id
export PATH="$ROOT/bin:\$PATH"

(or: source .demo/env), then for example:  archiver status; archiver list

Stop it with:  make demo-stop
DONE
