#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 and that the `postgres` role can connect
# there over TCP with trust auth (what the tests' LEADEVAL_TEST_POSTGRES_URL default expects:
# postgresql://postgres@127.0.0.1:5432/postgres). Used by .ci/run. Idempotent; run it as root.
#
#   1. Already answering and the postgres role gets in: nothing to do.
#   2. Server binaries missing: apt-get update && apt-get install -y postgresql (Debian/Ubuntu).
#   3. Start the packaged cluster (pg_ctlcluster --skip-systemctl-redirect VERSION main start), after
#      adding a `host all postgres 127.0.0.1/32 trust` rule to its pg_hba.conf if it lacks one.
#   4. Failing that, initdb a throwaway cluster under $LEADEVAL_PG_DIR (default /tmp/leadeval-postgres)
#      as the postgres user (initdb refuses root), trust auth, listening on 127.0.0.1:5432 only.
#   5. Wait (bounded) until it is ready and the postgres role can connect; fail loudly otherwise.
#
# Environment: LEADEVAL_PG_PORT (default 5432), LEADEVAL_PG_DIR (fallback cluster location),
# LEADEVAL_PG_WAIT_SECONDS (default 60).
set -euo pipefail

HOST=127.0.0.1
PORT=${LEADEVAL_PG_PORT:-5432}
WAIT_SECONDS=${LEADEVAL_PG_WAIT_SECONDS:-60}
PG_DIR=${LEADEVAL_PG_DIR:-/tmp/leadeval-postgres}
TRUST_RULE="host all postgres ${HOST}/32 trust"

log() { echo "ensure_postgres: $*"; }
die() { echo "ensure_postgres: ERROR: $*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"
    elif [[ $(id -un) == postgres ]]; then "$@"
    else as_root runuser -u postgres -- "$@"; fi
}

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT"; }

can_connect() {
    command -v psql >/dev/null 2>&1 \
        && PGCONNECT_TIMEOUT=3 psql -w -h "$HOST" -p "$PORT" -U postgres -d postgres -Atqc 'SELECT 1' \
            >/dev/null 2>&1
}

wait_ready() {
    local waited=0
    until ready; do
        (( waited >= WAIT_SECONDS )) && return 1
        sleep 1
        waited=$((waited + 1))
    done
    log "server ready on ${HOST}:${PORT} after ${waited}s"
}

newest_version() {  # highest PostgreSQL major version with server binaries installed
    local v
    v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    [[ -n $v && -x /usr/lib/postgresql/$v/bin/postgres ]] && echo "$v"
}

packaged_cluster() {  # "VERSION" of the packaged `main` cluster of the newest version, if there is one
    local v
    v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [[ -n $v && -f /etc/postgresql/$v/main/postgresql.conf ]] && echo "$v"
}

ensure_trust_rule() {  # $1: pg_hba.conf; prepends the trust rule (first match wins) if missing
    local hba=$1
    if grep -Eq "^[[:space:]]*host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+${HOST}/32[[:space:]]+trust" \
            "$hba"; then
        return 1
    fi
    as_root sed -i "1i ${TRUST_RULE}  # added by leadeval scripts/ensure_postgres.sh" "$hba"
    log "added '${TRUST_RULE}' to ${hba}"
}

# ---------------------------------------------------------------------------- 1. already running
if ready; then
    if can_connect; then
        log "already running on ${HOST}:${PORT}; the postgres role connects (nothing to do)"
        exit 0
    fi
    version=$(packaged_cluster || true)
    if [[ -n ${version:-} ]] && ensure_trust_rule "/etc/postgresql/${version}/main/pg_hba.conf"; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        log "reloaded cluster ${version}/main"
        can_connect && { log "the postgres role now connects over TCP with trust"; exit 0; }
    fi
    die "a server answers on ${HOST}:${PORT} but the postgres role cannot connect with trust auth; fix its pg_hba.conf"
fi

# ---------------------------------------------------------------------------- 2. install
if [[ -z $(newest_version || true) ]] || ! command -v pg_isready >/dev/null 2>&1; then
    log "PostgreSQL server binaries missing: apt-get install -y postgresql"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install PostgreSQL (server and client) yourself"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi
version=$(newest_version) || die "no PostgreSQL server binaries under /usr/lib/postgresql after install"
bindir=/usr/lib/postgresql/${version}/bin
log "using PostgreSQL ${version} (${bindir})"

# The socket directory is normally made by systemd-tmpfiles, which containers do not run.
as_root install -d -o postgres -g postgres -m 2775 /var/run/postgresql

# ---------------------------------------------------------------------------- 3. packaged cluster
started=""
cluster=$(packaged_cluster || true)
if [[ -n ${cluster:-} ]]; then
    conf_port=$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' \
        "/etc/postgresql/${cluster}/main/postgresql.conf" | tail -n 1)
    if [[ ${conf_port:-5432} != "$PORT" ]]; then
        log "packaged cluster ${cluster}/main listens on port ${conf_port}, not ${PORT}: not using it"
    else
        ensure_trust_rule "/etc/postgresql/${cluster}/main/pg_hba.conf" || true
        log "starting packaged cluster ${cluster}/main"
        if as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start; then
            started="packaged cluster ${cluster}/main"
        else
            log "could not start the packaged cluster; falling back to a private one"
        fi
    fi
fi

# ---------------------------------------------------------------------------- 4. private cluster
if [[ -z $started ]]; then
    data=${PG_DIR}/data
    as_root install -d -o postgres -g postgres -m 0700 "$PG_DIR"
    if [[ ! -f ${data}/PG_VERSION ]]; then
        log "initdb ${data} (trust auth, superuser postgres)"
        as_postgres "${bindir}/initdb" -D "$data" -A trust -U postgres -E UTF8 >/dev/null
    else
        log "reusing ${data}"
    fi
    log "starting a private cluster on ${HOST}:${PORT}"
    as_postgres "${bindir}/pg_ctl" -D "$data" -l "${PG_DIR}/server.log" -w -t "$WAIT_SECONDS" \
        -o "-p ${PORT} -k ${PG_DIR} -c listen_addresses=${HOST} -c fsync=off" start \
        || { tail -n 20 "${PG_DIR}/server.log" >&2 || true; die "pg_ctl start failed (log above)"; }
    started="private cluster in ${data}"
fi

# ---------------------------------------------------------------------------- 5. wait and check
wait_ready || die "${started} did not become ready on ${HOST}:${PORT} within ${WAIT_SECONDS}s"
can_connect || die "${started} is up but the postgres role cannot connect over TCP with trust auth"
log "ready: ${started}; postgresql://postgres@${HOST}:${PORT}/postgres connects"
