#!/usr/bin/env bash
# The archiver's end-to-end benchmark (issue 6), side by side with what
# PostgreSQL itself does on the same rows and the same machine:
#
#   1. start a throwaway PostgreSQL 15 cluster in .tmp/bench/pg (stopped at the end),
#   2. generate N clean readings once with generate_series (1000 sensors, one
#      reading every 10 minutes, ~2% imputed, ~5% flagged) into a staging table,
#   3. for each N: load the rows, run `archiver archive` to file:// under
#      /usr/bin/time -v (purge, export, JSON, gzip, upload, read-back
#      verification, delete, manifests); load the same rows again and run the
#      reference pipeline: COPY (SELECT ... ORDER BY sensor_id, ts) TO STDOUT
#      | gzip -6 > file, then the DELETE;
#   4. gzip levels 1, 6, 9; the partition fast path (--drop-partitions) on a
#      daily-partitioned table; the raw purge batch size; restore of the
#      archived days vs psql \copy FROM of the same rows as CSV;
#      the throttles (off, a rate limit, the replica lag monitor);
#      a first run over a backlog of BENCH_BACKLOG_N readings (100M: 1000
#      sensors every 10 minutes for some 700 days) against the reference;
#      `archiver status` over ten years of days on the largest table (its
#      skip scan), and with --counts;
#   5. export: `archiver export` of archived days (BENCH_EXPORT_N readings) as
#      CSV and as Parquet, straight from the file:// archives, vs psql \copy
#      (SELECT ... ORDER BY day, sensor, time) TO of the same rows as CSV; the
#      two CSV files must be byte-identical;
#   6. print one table.
#
# Settings (environment):
#   BENCH_N="1000000 10000000"  reading counts of the main table
#   BENCH_EXTRA_N=1000000       readings for the gzip, partition, restore and purge sections
#   BENCH_SECTIONS="main levels partitions purge restore status throttles backlog export"
#   BENCH_BACKLOG_N=100000000   readings of the backlog section (some 30 GB of disk at 100M)
#   BENCH_RATE=                 rows/s of the throttles section's rate limit (default BENCH_EXTRA_N / 10)
#   BENCH_EXPORT_N=10000000     readings for the export section
#   BENCH_RESTORE_N="$BENCH_EXTRA_N"  reading counts of the restore section (e.g. "1000000 10000000")
#   BENCH_REPEAT=1              runs of each measurement; the fastest is reported
#   BENCH_PROFILE=1             write CPU and allocation profiles of every archiver run to .tmp/bench/profiles
#   BENCH_PORT=54339            PostgreSQL port
#   BENCH_ARGS=""               extra arguments for `archiver archive` (e.g. --concurrency 3)
#   BENCH_KEEP=1                keep the cluster and the archives in .tmp/bench afterwards
# Quick mode: BENCH_N=1000000 make bench (or make bench-quick).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$ROOT/.tmp/bench # .tmp/ is git-ignored
N_LIST=${BENCH_N:-"1000000 10000000"}
EXTRA_N=${BENCH_EXTRA_N:-1000000}
SECTIONS=${BENCH_SECTIONS:-"main levels partitions purge restore status throttles backlog export"}
BACKLOG_N=${BENCH_BACKLOG_N:-100000000}
EXPORT_N=${BENCH_EXPORT_N:-10000000}
REPEAT=${BENCH_REPEAT:-1}
PORT=${BENCH_PORT:-54339}
read -r -a EXTRA_ARGS <<<"${BENCH_ARGS:-}"

want() { [[ " $SECTIONS " == *" $1 "* ]]; }
log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

find_pg_bin() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}
need_root_install() {
    [ "$(id -u)" = 0 ] || die "$1 missing: install it (sudo apt-get install $2)"
    log "installing $2"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
PGBIN=$(find_pg_bin || true)
if [ -z "$PGBIN" ]; then need_root_install "PostgreSQL server" postgresql; PGBIN=$(find_pg_bin); fi
[ -x /usr/bin/time ] || need_root_install /usr/bin/time time
command -v psql >/dev/null || die "psql missing (apt-get install postgresql-client)"

log "building archiver"
mkdir -p "$B/bin" "$B/work" "$B/profiles"
# Built as the release is (make build, the Dockerfile): a binary with symbol
# tables maps some 9 MiB more of itself into memory.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$B/bin/archiver" ./cmd/archiver
ARCHIVER=$B/bin/archiver

AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
rm -rf "$B/pg"
mkdir -p "$B/pg"
[ ${#AS[@]} -gt 0 ] && chown postgres "$B/pg"
log "starting a throwaway PostgreSQL on port $PORT ($PGBIN)"
"${AS[@]}" "$PGBIN/initdb" -D "$B/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# Durability off as in the tests (a throwaway cluster); autovacuum off and
# checkpoints far apart so that neither lands in the middle of one side of a
# comparison: every measurement starts after VACUUM ANALYZE and CHECKPOINT.
"${AS[@]}" "$PGBIN/pg_ctl" -D "$B/pg/data" -l "$B/pg/log" -w \
    -o "-p $PORT -k $B/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off -c shared_buffers=256MB -c max_wal_size=8GB -c checkpoint_timeout=1h" \
    start >/dev/null
# The cluster (a few GB at 10M readings) is removed at the end unless
# BENCH_KEEP=1.
cleanup() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$B/pg/data" -m fast stop >/dev/null 2>&1 || true
    [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$B/pg" "$B/work"
}
trap cleanup EXIT

export PGTZ=UTC PGOPTIONS="-c client_min_messages=warning"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
# The sample clean table has a surrogate id: declared not kept (restore gives new ids).
export ARCHIVER_CLEAN_IGNORE_COLUMNS=id
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL")
psql1() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

"${PSQL[@]}" -f internal/pgtest/schema.sql
"$ARCHIVER" migrate up >/dev/null 2>&1 || die "archiver migrate up failed"

# The archiver archives days wholly before now() - 30 days; the data ends at
# the start of the day 31 days ago, so every generated row is due.
CUTOFF=$(psql1 "SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '31 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")

# generate N: staging table bench.src_N with N readings ending at CUTOFF,
# in arrival order (time, then sensor), as an ingest would have written them.
generate() {
    local n=$1 t
    t=$(( (n + 999) / 1000 ))
    if [ "$(psql1 "SELECT to_regclass('bench.src_$n') IS NOT NULL")" = t ]; then return; fi
    log "generating $n readings ($t times x 1000 sensors)"
    "${PSQL[@]}" <<SQL
CREATE SCHEMA IF NOT EXISTS bench;
SELECT setseed(0.42);
CREATE UNLOGGED TABLE bench.src_$n AS
SELECT 'sensor_' || lpad(s::text, 4, '0') AS sensor_id,
       ts,
       round((random() * 20)::numeric, 2)::float8 AS value_mm,
       CASE WHEN random() < 0.05 THEN 1 ELSE 0 END AS qc_flags,
       CASE WHEN random() < 0.02 THEN 'ARIMA' END AS imputation_method
FROM generate_series(timestamptz '$CUTOFF' - $t * interval '10 minutes', timestamptz '$CUTOFF' - interval '10 minutes', interval '10 minutes') ts,
     generate_series(1, 1000) s
ORDER BY ts, s
LIMIT $n;
SQL
}

# load N [partitioned]: the clean table holds exactly bench.src_N, vacuumed,
# analyzed and checkpointed; manifests are emptied so that every run starts
# from the same state.
load() {
    local n=$1 part=${2:-}
    "${PSQL[@]}" -c "DROP TABLE IF EXISTS shizuku.clean_measurements CASCADE" -c "TRUNCATE archiver.archive_runs"
    if [ -n "$part" ]; then
        # Daily range partitions, as a large deployment would have them.
        "${PSQL[@]}" <<SQL
CREATE TABLE shizuku.clean_measurements (
    id bigserial, sensor_id text NOT NULL, ts timestamptz NOT NULL,
    value_mm double precision, qc_flags integer, imputation_method text,
    PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
CREATE INDEX clean_measurements_ts_idx ON shizuku.clean_measurements (ts);
DO \$\$
DECLARE d date;
BEGIN
  FOR d IN SELECT generate_series((SELECT min(ts) FROM bench.src_$n)::date, (timestamptz '$CUTOFF')::date, interval '1 day')::date LOOP
    EXECUTE format('CREATE TABLE shizuku.clean_%s PARTITION OF shizuku.clean_measurements FOR VALUES FROM (%L) TO (%L)',
                   to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz);
  END LOOP;
END \$\$;
SQL
    else
        "${PSQL[@]}" -f internal/pgtest/schema.sql
    fi
    "${PSQL[@]}" -c "INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
                     SELECT sensor_id, ts, value_mm, qc_flags, imputation_method FROM bench.src_$n" \
                 -c "VACUUM ANALYZE shizuku.clean_measurements" -c "CHECKPOINT"
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# archive LABEL ARGS...: runs the archiver under /usr/bin/time -v; sets
# A_SECS, A_RSS_KB, A_BYTES, A_DIR. Fails the benchmark if the run failed or
# left rows behind.
archive() {
    local label=$1; shift
    A_DIR=$B/work/$label
    rm -rf "$A_DIR"; mkdir -p "$A_DIR"
    local env=()
    if [ "${BENCH_PROFILE:-}" = 1 ]; then
        env=(ARCHIVER_CPUPROFILE="$B/profiles/$label.cpu.pprof" ARCHIVER_MEMPROFILE="$B/profiles/$label.mem.pprof")
    fi
    local t0 t1
    t0=$(now)
    if ! env "${env[@]}" /usr/bin/time -v -o "$B/work/$label.time" "$ARCHIVER" archive --bucket "file://$A_DIR" \
        --no-progress --log-level warn "${EXTRA_ARGS[@]}" "$@" >"$B/work/$label.log" 2>&1; then
        cat "$B/work/$label.log" >&2
        die "archiver run $label failed"
    fi
    t1=$(now)
    A_SECS=$(secs "$t0" "$t1")
    A_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$B/work/$label.time")
    A_BYTES=$(find "$A_DIR" -name '*.json.gz' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    local left
    left=$(psql1 "SELECT count(*) FROM shizuku.clean_measurements")
    [ "$left" = 0 ] || die "archiver run $label left $left rows"
}

# reference N: COPY ... ORDER BY sensor_id, ts | gzip -6 > file, then DELETE.
reference() {
    local label=$1 level=${2:-6} t0 t1
    t0=$(now)
    psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "COPY (SELECT sensor_id, ts, value_mm, qc_flags, imputation_method
        FROM shizuku.clean_measurements WHERE ts < '$CUTOFF' ORDER BY sensor_id, ts) TO STDOUT" | gzip "-$level" >"$B/work/$label.tsv.gz"
    psql1 "DELETE FROM shizuku.clean_measurements WHERE ts < '$CUTOFF'" >/dev/null
    t1=$(now)
    R_SECS=$(secs "$t0" "$t1")
    R_BYTES=$(stat -c %s "$B/work/$label.tsv.gz")
}

best() { # best OLD NEW: the smaller (times: the least disturbed run)
    if [ -z "$1" ]; then echo "$2"; else awk -v a="$1" -v b="$2" 'BEGIN { print (b < a) ? b : a }'; fi
}
worst() { # worst OLD NEW: the larger (memory: the peak of all runs)
    if [ -z "$1" ]; then echo "$2"; else awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; fi
}

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$@")"); }
fmt_n() { awk -v n="$1" 'BEGIN { if (n >= 1e6) printf "%gM", n / 1e6; else if (n >= 1e3) printf "%gk", n / 1e3; else print n }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A MAIN_SECS MAIN_RSS
if want main; then
    for n in $N_LIST; do
        generate "$n"
        as="" ars="" ab="" rs="" rb=""
        for i in $(seq "$REPEAT"); do
            log "archiver archive, $n readings (run $i/$REPEAT)"
            load "$n"
            archive "main-$n"
            as=$(best "$as" "$A_SECS"); ab=$A_BYTES
            ars=$(worst "$ars" "$A_RSS_KB")
            log "  $A_SECS s, peak RSS $(mib "$A_RSS_KB"); reference pipeline (run $i/$REPEAT)"
            load "$n"
            reference "ref-$n"
            rs=$(best "$rs" "$R_SECS"); rb=$R_BYTES
            log "  $R_SECS s"
        done
        MAIN_SECS[$n]=$as; MAIN_RSS[$n]=$ars
        row "$(fmt_n "$n")" "archiver archive (file://)" "$as" "$(rate "$n" "$as")" "$(mib "$ars")" "$(mb "$ab")" "**$(ratio "$as" "$rs")**"
        row "$(fmt_n "$n")" "reference: COPY … ORDER BY sensor_id, ts \| gzip -6; DELETE" "$rs" "$(rate "$n" "$rs")" "–" "$(mb "$rb")" "1.00"
    done
fi

if want levels; then
    n=$EXTRA_N; generate "$n"
    for level in 1 6 9; do
        s=""
        for i in $(seq "$REPEAT"); do
            log "archiver archive --gzip-level $level, $n readings (run $i/$REPEAT)"
            load "$n"
            archive "level$level-$n" --gzip-level "$level"
            s=$(best "$s" "$A_SECS")
        done
        LEVEL_SECS[$level]=$s; LEVEL_RSS[$level]=$A_RSS_KB; LEVEL_BYTES[$level]=$A_BYTES
    done
    for level in 1 6 9; do
        row "$(fmt_n "$n")" "archiver archive --gzip-level $level" "${LEVEL_SECS[$level]}" "$(rate "$n" "${LEVEL_SECS[$level]}")" \
            "$(mib "${LEVEL_RSS[$level]}")" "$(mb "${LEVEL_BYTES[$level]}")" "time $(ratio "${LEVEL_SECS[$level]}" "${LEVEL_SECS[6]}")×, size $(ratio "${LEVEL_BYTES[$level]}" "${LEVEL_BYTES[6]}")× of level 6"
    done
fi

if want partitions; then
    n=$EXTRA_N; generate "$n"
    HAVE_DROP=0
    "$ARCHIVER" archive --help 2>&1 | grep -q -- --drop-partitions && HAVE_DROP=1
    ps="" fs="" rs=""
    for i in $(seq "$REPEAT"); do
        log "daily partitions: archiver archive, $n readings (run $i/$REPEAT)"
        load "$n" partitioned
        archive "part-delete-$n"
        ps=$(best "$ps" "$A_SECS"); prss=$A_RSS_KB; pb=$A_BYTES
        if [ "$HAVE_DROP" = 1 ]; then
            log "daily partitions: archiver archive --drop-partitions (run $i/$REPEAT)"
            load "$n" partitioned
            archive "part-drop-$n" --drop-partitions
            fs=$(best "$fs" "$A_SECS"); frss=$A_RSS_KB; fb=$A_BYTES
            left=$(psql1 "SELECT count(*) FROM pg_inherits WHERE inhparent = 'shizuku.clean_measurements'::regclass")
            log "  partitions left after --drop-partitions: $left"
        fi
        log "daily partitions: reference pipeline (run $i/$REPEAT)"
        load "$n" partitioned
        reference "part-ref-$n"
        rs=$(best "$rs" "$R_SECS")
    done
    row "$(fmt_n "$n")" "daily partitions: archiver archive (DELETE)" "$ps" "$(rate "$n" "$ps")" "$(mib "$prss")" "$(mb "$pb")" "**$(ratio "$ps" "$rs")**"
    [ "$HAVE_DROP" = 1 ] && row "$(fmt_n "$n")" "daily partitions: archiver archive --drop-partitions" "$fs" "$(rate "$n" "$fs")" "$(mib "$frss")" "$(mb "$fb")" "**$(ratio "$fs" "$rs")**"
    row "$(fmt_n "$n")" "daily partitions: reference (COPY \| gzip -6; DELETE)" "$rs" "$(rate "$n" "$rs")" "–" "$(mb "$R_BYTES")" "1.00"
fi

if want purge; then
    n=$EXTRA_N
    # Raw rows older than the raw retention, with an empty clean table: the
    # run is the purge alone. One plain DELETE is the reference.
    load_raw() {
        "${PSQL[@]}" -c "TRUNCATE shizuku.clean_measurements, shizuku.raw_measurements" -c "TRUNCATE archiver.archive_runs" \
            -c "INSERT INTO shizuku.raw_measurements (sensor_id, ts, value_mm)
                SELECT 'sensor_' || lpad((i % 1000)::text, 4, '0'), now() - interval '3 days' + (i / 1000) * interval '10 seconds', i % 97
                FROM generate_series(0, $n - 1) i" \
            -c "VACUUM ANALYZE shizuku.raw_measurements" -c "CHECKPOINT"
    }
    load "$n" # the plain clean table again, if partitions ran
    ds=""
    for i in $(seq "$REPEAT"); do
        log "raw purge of $n rows: one DELETE (run $i/$REPEAT)"
        load_raw
        t0=$(now); psql1 "DELETE FROM shizuku.raw_measurements WHERE ts < now() - interval '1 day'" >/dev/null; t1=$(now)
        ds=$(best "$ds" "$(secs "$t0" "$t1")")
    done
    for bs in 1000 10000 100000; do
        s=""
        for i in $(seq "$REPEAT"); do
            log "raw purge of $n rows, --batch-size $bs (run $i/$REPEAT)"
            load_raw
            # The clean table is empty: with the default raw.require_clean
            # every raw row would be held back, so the hold is off here.
            archive "purge-$bs" --batch-size "$bs" --raw-require-clean=false
            s=$(best "$s" "$A_SECS")
            left=$(psql1 "SELECT count(*) FROM shizuku.raw_measurements")
            [ "$left" = 0 ] || die "purge left $left raw rows"
        done
        row "$(fmt_n "$n") raw" "raw purge (whole run), --batch-size $bs" "$s" "$(rate "$n" "$s")" "$(mib "$A_RSS_KB")" "–" "$(ratio "$s" "$ds")"
    done
    row "$(fmt_n "$n") raw" "reference: one DELETE" "$ds" "$(rate "$n" "$ds")" "–" "–" "1.00"
fi

if want restore; then
    if ! "$ARCHIVER" restore --help >/dev/null 2>&1; then
        log "archiver has no restore command yet: restore section skipped"
    else
      for n in ${BENCH_RESTORE_N:-$EXTRA_N}; do
        generate "$n"
        log "restore: archiving $n readings first"
        load "$n"
        archive "restore-src-$n"
        src=$A_DIR
        days=$(psql1 "SELECT string_agg(DISTINCT to_char(ts, 'YYYY-MM-DD'), ' ' ORDER BY to_char(ts, 'YYYY-MM-DD')) FROM bench.src_$n")
        first=${days%% *}; last=${days##* }
        psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy (SELECT sensor_id, ts, value_mm, qc_flags, imputation_method FROM bench.src_$n) TO '$B/work/restore-$n.csv' CSV"
        # The best of each side, and each run's restore against the psql
        # run right after it: on a shared machine the pairs show how much
        # of a difference is the machine's.
        rs="" cs="" rrss="" pairs=""
        for i in $(seq "$REPEAT"); do
            "${PSQL[@]}" -c "TRUNCATE shizuku.clean_measurements" -c "CHECKPOINT"
            log "archiver restore $first..$last (run $i/$REPEAT)"
            penv=()
            if [ "${BENCH_PROFILE:-}" = 1 ]; then
                penv=(ARCHIVER_CPUPROFILE="$B/profiles/restore-$n.cpu.pprof" ARCHIVER_MEMPROFILE="$B/profiles/restore-$n.mem.pprof")
            fi
            t0=$(now)
            # shellcheck disable=SC2086
            if ! env "${penv[@]}" /usr/bin/time -v -o "$B/work/restore.time" "$ARCHIVER" restore --bucket "file://$src" \
                --log-level warn --from "$first" --to "$last" >"$B/work/restore.log" 2>&1; then
                cat "$B/work/restore.log" >&2; die "archiver restore failed"
            fi
            t1=$(now)
            ri=$(secs "$t0" "$t1")
            rs=$(best "$rs" "$ri")
            rrss=$(worst "$rrss" "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$B/work/restore.time")")
            got=$(psql1 "SELECT count(*) FROM shizuku.clean_measurements")
            [ "$got" = "$n" ] || die "restore loaded $got rows, want $n"
            "${PSQL[@]}" -c "TRUNCATE shizuku.clean_measurements" -c "CHECKPOINT"
            log "psql \\copy FROM CSV (run $i/$REPEAT)"
            t0=$(now)
            psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method) FROM '$B/work/restore-$n.csv' CSV"
            t1=$(now)
            ci=$(secs "$t0" "$t1")
            cs=$(best "$cs" "$ci")
            pairs="$pairs $(ratio "$ri" "$ci")"
        done
        row "$(fmt_n "$n")" "archiver restore (file://); each run against the psql run after it:$pairs" "$rs" "$(rate "$n" "$rs")" "$(mib "$rrss")" "–" "**$(ratio "$rs" "$cs")**"
        row "$(fmt_n "$n")" "reference: psql \\copy … FROM CSV" "$cs" "$(rate "$n" "$cs")" "–" "$(mb "$(stat -c %s "$B/work/restore-$n.csv")") CSV" "1.00"
        rm -f "$B/work/restore-$n.csv"
        "${PSQL[@]}" -c "TRUNCATE shizuku.clean_measurements"
      done
    fi
fi

if want throttles; then
    # The throttles' cost when off is nil by construction (nil checks); this
    # measures it, and the rate a rate limit really gives.
    n=$EXTRA_N; generate "$n"
    rate_limit=${BENCH_RATE:-$(( n / 10 ))}
    os="" ms="" rs=""
    for i in $(seq "$REPEAT"); do
        log "throttles off: archiver archive, $n readings (run $i/$REPEAT)"
        load "$n"; archive "throttles-off-$n"
        os=$(best "$os" "$A_SECS"); orss=$A_RSS_KB
        log "replica lag monitor on (--max-replica-lag 1h, no replicas) (run $i/$REPEAT)"
        load "$n"; archive "throttles-lag-$n" --max-replica-lag 1h
        ms=$(best "$ms" "$A_SECS"); mrss=$A_RSS_KB
        log "rate limit --max-rows-per-second $rate_limit (run $i/$REPEAT)"
        load "$n"; archive "throttles-rate-$n" --max-rows-per-second "$rate_limit"
        rs=$(best "$rs" "$A_SECS"); rrss=$A_RSS_KB
    done
    row "$(fmt_n "$n")" "throttles off" "$os" "$(rate "$n" "$os")" "$(mib "$orss")" "–" "1.00"
    row "$(fmt_n "$n")" "--max-replica-lag 1h (monitor on, no replicas)" "$ms" "$(rate "$n" "$ms")" "$(mib "$mrss")" "–" "$(ratio "$ms" "$os")"
    row "$(fmt_n "$n")" "--max-rows-per-second $rate_limit (achieved: readings/s)" "$rs" "$(rate "$n" "$rs")" "$(mib "$rrss")" "–" "$(ratio "$rs" "$os")"
fi

if want backlog; then
    # A migrating user's first run: the whole backlog in one go.
    n=$BACKLOG_N; generate "$n"
    bs="" brss="" rs=""
    for i in $(seq "$REPEAT"); do
        log "backlog: archiver archive, $n readings (run $i/$REPEAT)"
        load "$n"; archive "backlog-$n"
        bs=$(best "$bs" "$A_SECS"); brss=$(worst "$brss" "$A_RSS_KB"); bb=$A_BYTES
        log "  $A_SECS s, peak RSS $(mib "$A_RSS_KB"); reference pipeline (run $i/$REPEAT)"
        load "$n"; reference "backlog-ref-$n"
        rs=$(best "$rs" "$R_SECS"); rb=$R_BYTES
    done
    row "$(fmt_n "$n")" "backlog, first run: archiver archive (file://)" "$bs" "$(rate "$n" "$bs")" "$(mib "$brss")" "$(mb "$bb")" "**$(ratio "$bs" "$rs")**"
    row "$(fmt_n "$n")" "backlog reference: COPY … ORDER BY sensor_id, ts \| gzip -6; DELETE" "$rs" "$(rate "$n" "$rs")" "–" "$(mb "$rb")" "1.00"
    # Linear in N? Against the largest run of the main section, if any.
    if want main; then
        set -- $N_LIST; lo=${!#}
        if [ -n "${MAIN_SECS[$lo]:-}" ] && [ "$lo" -lt "$n" ]; then
            BACKLOG_SCALING="backlog scaling: $(fmt_n "$n") / $(fmt_n "$lo") time = $(ratio "$bs" "${MAIN_SECS[$lo]}") (readings ×$(( n / lo ))); peak RSS $(fmt_n "$n") / $(fmt_n "$lo") = $(ratio "$brss" "${MAIN_RSS[$lo]}")"
        fi
    fi
fi

if want status; then
    # The largest table, plus one reading a day for the ten years before
    # it: status then covers some 3,700 days, most of them sparse, as a
    # long-running deployment's would; half of the dense days are archived
    # first, so that the manifest side is not empty either.
    set -- $N_LIST; n=${!#}
    generate "$n"
    load "$n"
    "${PSQL[@]}" -c "INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
                     SELECT 'decade', timestamptz '$CUTOFF' - interval '1 day' * (100 + g), 1, 0, NULL FROM generate_series(1, 3650) g" \
                 -c "VACUUM ANALYZE shizuku.clean_measurements" -c "CHECKPOINT"
    mid=$(psql1 "SELECT to_char((SELECT min(ts) FROM bench.src_$n) + ((timestamptz '$CUTOFF' - (SELECT min(ts) FROM bench.src_$n)) / 2), 'YYYY-MM-DD')")
    log "archiving the ten sparse years and the dense days before $mid for the status benchmark"
    "$ARCHIVER" archive --bucket "file://$B/work/status" --no-progress --log-level warn --clean-retention-days \
        "$(psql1 "SELECT (current_date - date '$mid')")" >"$B/work/status-archive.log" 2>&1 || { cat "$B/work/status-archive.log" >&2; die "archive before status failed"; }
    rows=$(psql1 "SELECT count(*) FROM shizuku.clean_measurements")
    for mode in plain counts; do
        args=(); [ "$mode" = counts ] && args=(--counts)
        s=""
        for i in $(seq "$REPEAT"); do
            log "archiver status ${args[*]}, $rows rows left (run $i/$REPEAT)"
            t0=$(now)
            # Exit 1 is expected: the dense days left are pending and overdue.
            /usr/bin/time -v -o "$B/work/status.time" "$ARCHIVER" status --bucket "file://$B/work/status" --format json "${args[@]}" \
                >"$B/work/status-$mode.json" 2>"$B/work/status-$mode.log" || [ $? = 1 ] || { cat "$B/work/status-$mode.log" >&2; die "archiver status failed"; }
            t1=$(now)
            s=$(best "$s" "$(secs "$t0" "$t1")")
        done
        days=$(grep -c '"day":' "$B/work/status-$mode.json" || true)
        label="archiver status"; [ "$mode" = counts ] && label="archiver status --counts"
        row "$(fmt_n "$n")" "$label ($days days, $(fmt_n "$rows") rows left$([ "$mode" = plain ] && echo ", skip scan"))" "$s" "–" \
            "$(mib "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$B/work/status.time")")" "–" "–"
    done
fi

if want export; then
    n=$EXPORT_N; generate "$n"
    log "export: archiving $n readings first"
    load "$n"
    archive "export-src-$n"
    src=$A_DIR; gzbytes=$A_BYTES
    days=$(psql1 "SELECT string_agg(DISTINCT to_char(ts, 'YYYY-MM-DD'), ' ' ORDER BY to_char(ts, 'YYYY-MM-DD')) FROM bench.src_$n")
    first=${days%% *}; last=${days##* }
    # The reference reads the same rows from the clean table (its time index
    # as in production), sorted as export writes them; archive_runs keeps the
    # manifests export finds the archives by.
    "${PSQL[@]}" -c "INSERT INTO shizuku.clean_measurements (sensor_id, ts, value_mm, qc_flags, imputation_method)
                     SELECT sensor_id, ts, value_mm, qc_flags, imputation_method FROM bench.src_$n" \
                 -c "VACUUM ANALYZE shizuku.clean_measurements" -c "CHECKPOINT"
    declare -A X_SECS X_RSS X_BYTES
    for f in csv parquet; do
        s="" rss=""
        for i in $(seq "$REPEAT"); do
            log "archiver export --format $f, $first..$last (run $i/$REPEAT)"
            out=$B/work/export-$n.$f
            t0=$(now)
            if ! /usr/bin/time -v -o "$B/work/export.time" "$ARCHIVER" export --bucket "file://$src" --no-progress \
                --log-level warn --from "$first" --to "$last" --format "$f" --out "$out" >"$B/work/export.log" 2>&1; then
                cat "$B/work/export.log" >&2; die "archiver export failed"
            fi
            t1=$(now)
            s=$(best "$s" "$(secs "$t0" "$t1")")
            rss=$(worst "$rss" "$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$B/work/export.time")")
        done
        X_SECS[$f]=$s; X_RSS[$f]=$rss; X_BYTES[$f]=$(stat -c %s "$out")
    done
    cs=""
    for i in $(seq "$REPEAT"); do
        log "psql \\copy (SELECT ... ORDER BY day, sensor, time) TO CSV (run $i/$REPEAT)"
        t0=$(now)
        psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy (SELECT ts::date AS day, sensor_id AS sensor, ts AS time, value_mm AS measurement, qc_flags, imputation_method FROM shizuku.clean_measurements WHERE ts >= '$first' AND ts < date '$last' + 1 ORDER BY ts::date, sensor_id COLLATE \"C\", ts) TO '$B/work/export-ref-$n.csv' CSV HEADER"
        t1=$(now)
        cs=$(best "$cs" "$(secs "$t0" "$t1")")
    done
    cmp -s "$B/work/export-$n.csv" "$B/work/export-ref-$n.csv" || die "export CSV differs from psql's \\copy CSV of the same rows ($B/work/export-$n.csv, $B/work/export-ref-$n.csv)"
    row "$(fmt_n "$n")" "archiver export --format csv (file://, byte-identical to the reference)" "${X_SECS[csv]}" "$(rate "$n" "${X_SECS[csv]}")" "$(mib "${X_RSS[csv]}")" "$(mb "${X_BYTES[csv]}")" "**$(ratio "${X_SECS[csv]}" "$cs")**"
    row "$(fmt_n "$n")" "archiver export --format parquet (zstd)" "${X_SECS[parquet]}" "$(rate "$n" "${X_SECS[parquet]}")" "$(mib "${X_RSS[parquet]}")" "$(mb "${X_BYTES[parquet]}") ($(ratio "$gzbytes" "${X_BYTES[parquet]}")× smaller than the archives)" "**$(ratio "${X_SECS[parquet]}" "$cs")**"
    row "$(fmt_n "$n")" "reference: psql \\copy (… ORDER BY day, sensor, time) TO CSV" "$cs" "$(rate "$n" "$cs")" "–" "$(mb "$(stat -c %s "$B/work/export-ref-$n.csv")")" "1.00"
fi

echo
echo "archiver benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }'), $(go version | awk '{ print $3 }'), load average $(cut -d' ' -f1-3 /proc/loadavg); seconds: best of $REPEAT runs, peak RSS: highest of them"
echo
echo "| readings | pipeline | seconds | readings/s | peak RSS | bytes written | ratio |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
if want main; then
    set -- $N_LIST
    if [ $# -ge 2 ]; then
        lo=$1; hi=${!#}
        echo
        echo "scaling: $(fmt_n "$hi") / $(fmt_n "$lo") time = $(ratio "${MAIN_SECS[$hi]}" "${MAIN_SECS[$lo]}") (readings ×$(( hi / lo ))); peak RSS $(fmt_n "$hi") / $(fmt_n "$lo") = $(ratio "${MAIN_RSS[$hi]}" "${MAIN_RSS[$lo]}")"
    fi
fi
if [ -n "${BACKLOG_SCALING:-}" ]; then
    echo
    echo "$BACKLOG_SCALING"
fi
if [ "${BENCH_PROFILE:-}" = 1 ]; then
    echo
    echo "profiles: $B/profiles (go tool pprof -top $ARCHIVER $B/profiles/main-N.cpu.pprof)"
fi
