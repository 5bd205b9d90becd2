#!/usr/bin/env bash
# cluster.sh {start|stop|status|url|reset}: a local Citus cluster for development and tests, a
# coordinator and two workers on loopback, from the Citus installed into the local PostgreSQL
# (Citus is not packaged in Debian: see README "Scaling out with Citus" for building it).
#
#   start   create the nodes on first use (initdb), start the ones that are not running, create
#           the citus extension in their "postgres" database and register the workers with the
#           coordinator. Idempotent: on a running cluster it changes nothing. Prints the
#           coordinator's URL on stdout, and nothing else.
#   stop    stop the nodes (fast shutdown); their data stays for the next start.
#   status  one line per node; exits 0 only if all three run.
#   url     print the coordinator's URL (the cluster need not be running).
#   reset   stop the nodes and delete their data.
#
# Exit status 3 means Citus is not installed (no citus.so in `pg_config --pkglibdir`), so that
# callers can skip rather than fail.
#
# The nodes run as the `postgres` user when started by root (PostgreSQL refuses to run as root),
# as the current user otherwise. They listen on 127.0.0.1 only and ask for a password (the
# user "postgres", password "postgres": a throwaway cluster). The nodes connect to each other
# with the password file the script writes next to their data (PGPASSFILE in their environment).
# They are set up for tests, not durability: fsync and synchronous_commit are off. They know each
# other as 127.0.0.1, citus.local_hostname included (moves connect from a node to itself).
#
# Environment: TOODOO_CITUS_DIR (default /tmp/toodoo-citus) holds the nodes' data and logs;
# TOODOO_CITUS_PORT (default 9700) is the coordinator's port, the workers take the next two;
# PG_CONFIG (default pg_config) names the PostgreSQL whose binaries run the nodes.
set -euo pipefail

dir="${TOODOO_CITUS_DIR:-/tmp/toodoo-citus}"
base="${TOODOO_CITUS_PORT:-9700}"
pg_config="${PG_CONFIG:-pg_config}"
host=127.0.0.1
password=postgres
ports=("$base" "$((base + 1))" "$((base + 2))")

log() { echo "citus: $*" >&2; }
die() {
	log "$*"
	exit 1
}

url() { echo "postgres://postgres:${password}@${host}:${base}/postgres?sslmode=disable"; }

# installed sets bindir, or exits 3 with one line saying what is missing.
installed() {
	local libdir
	if ! command -v "$pg_config" >/dev/null 2>&1; then
		log "Citus is not installed: $pg_config (PostgreSQL's server development files) is not found"
		exit 3
	fi
	libdir="$("$pg_config" --pkglibdir)"
	if [ ! -f "$libdir/citus.so" ]; then
		log "Citus is not installed: no citus.so in $libdir (build and install Citus v13.0.5 there; see README \"Scaling out with Citus\")"
		exit 3
	fi
	bindir="$("$pg_config" --bindir)"
}

# as runs a command as the nodes' owner: postgres when we are root, else ourselves.
as() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- env PGPASSFILE="$dir/pgpass" "$@")
	else
		(cd / && env PGPASSFILE="$dir/pgpass" "$@")
	fi
}

psql_node() { # port sql...
	local port="$1"
	shift
	as env PGOPTIONS="-c client_min_messages=warning" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d postgres -At "$@"
}

running() { as "$bindir/pg_ctl" status -D "$dir/$1" >/dev/null 2>&1; }

init_node() { # port
	local port="$1" data="$dir/$1"
	[ -f "$data/PG_VERSION" ] && return 0
	log "initialising node $port in $data"
	as "$bindir/initdb" -D "$data" -U postgres --pwfile="$dir/pwfile" --auth-host=scram-sha-256 \
		--auth-local=peer -E UTF8 --locale=C.UTF-8 >"$dir/initdb-$port.log" 2>&1 ||
		die "initdb of node $port failed; see $dir/initdb-$port.log"
	cat >>"$data/postgresql.conf" <<EOF

# cluster.sh: a throwaway Citus node for development and tests.
listen_addresses = '$host'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
checkpoint_timeout = 1d
logging_collector = off
EOF
}

start() {
	installed
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "there is no postgres user to run the nodes as (PostgreSQL refuses to run as root)"
		chown postgres: "$dir"
	fi
	chmod 700 "$dir"
	umask 077
	if [ ! -f "$dir/pgpass" ]; then
		echo "$password" >"$dir/pwfile"
		echo "$host:*:*:postgres:$password" >"$dir/pgpass"
		[ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile" "$dir/pgpass"
	fi
	for port in "${ports[@]}"; do
		init_node "$port"
		if ! running "$port"; then
			log "starting node $port"
			as "$bindir/pg_ctl" start -w -t 60 -D "$dir/$port" -l "$dir/node-$port.log" >/dev/null ||
				die "node $port did not start; the end of $dir/node-$port.log: $(tail -n 3 "$dir/node-$port.log" | tr '\n' ' ')"
		fi
	done
	for port in "${ports[@]}"; do
		# Moves and the rebalancer connect from a node to itself by citus.local_hostname
		# (default localhost, which may be ::1, where the nodes do not listen).
		if [ "$(psql_node "$port" -c "SHOW citus.local_hostname")" != "$host" ]; then
			psql_node "$port" -c "ALTER SYSTEM SET citus.local_hostname = '$host'" -c "SELECT pg_reload_conf()" >/dev/null
		fi
		psql_node "$port" -c "CREATE EXTENSION IF NOT EXISTS citus" ||
			die "CREATE EXTENSION citus on node $port failed"
	done
	psql_node "$base" -c "SELECT citus_set_coordinator_host('$host', $base)" >/dev/null
	for port in "${ports[@]:1}"; do
		if [ "$(psql_node "$base" -c "SELECT count(*) FROM pg_dist_node WHERE nodename = '$host' AND nodeport = $port")" = 0 ]; then
			log "registering worker $host:$port"
			psql_node "$base" -c "SELECT citus_add_node('$host', $port)" >/dev/null
		fi
	done
	url
}

stop() {
	installed
	for port in "${ports[@]}"; do
		if [ -f "$dir/$port/PG_VERSION" ] && running "$port"; then
			log "stopping node $port"
			as "$bindir/pg_ctl" stop -w -m fast -D "$dir/$port" >/dev/null
		fi
	done
}

status() {
	installed
	local ok=0
	for port in "${ports[@]}"; do
		role=worker
		[ "$port" = "$base" ] && role=coordinator
		if [ -f "$dir/$port/PG_VERSION" ] && running "$port"; then
			echo "$role $host:$port running ($dir/$port)"
		else
			echo "$role $host:$port stopped"
			ok=1
		fi
	done
	if [ "$ok" = 0 ]; then
		psql_node "$base" -F ' ' -c "SELECT 'registered: ' || string_agg(nodename || ':' || nodeport || CASE WHEN groupid = 0 THEN ' (coordinator)' ELSE '' END, ', ' ORDER BY groupid) FROM pg_dist_node"
	fi
	return "$ok"
}

reset() {
	stop
	log "deleting $dir"
	rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
url) url ;;
reset) reset ;;
*)
	echo "usage: $0 {start|stop|status|url|reset}" >&2
	exit 2
	;;
esac
