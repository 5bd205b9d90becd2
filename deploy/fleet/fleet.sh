#!/usr/bin/env bash
# fleet.sh: what `go tool task fleet` runs. Two `toodoo serve` replicas on one database, behind
# PgBouncer (transaction mode) and HAProxy on http://*.localhost:$TOODOO_FLEET_PORT/ (default
# 8090), until Ctrl-C (see fleet.go).
#
# The database is the one `go tool task dev` uses: with DATABASE_URL set, that one; otherwise
# the dev container (deploy/dev/dev.sh start). The binary is built once; the schemas are migrated
# (`toodoo migrate`); the demo workspaces and login of `go tool task dev` are made when no
# workspace `first` exists (through the CLI, so a database `task dev` seeded is left as it is).
# Needs haproxy and pgbouncer (Debian: apt-get install haproxy pgbouncer). Arguments go to the
# launcher (--replicas N, --drain-delay D, --port P).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
log() { echo "fleet: $*" >&2; }

for bin in haproxy pgbouncer; do
	command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || { log "$bin is not installed (Debian: apt-get install $bin)"; exit 1; }
done
if [ -n "${DATABASE_URL:-}" ]; then
	log "DATABASE_URL is set: using that database (no container)"
else
	DATABASE_URL="$(deploy/dev/dev.sh start)"
	export DATABASE_URL
fi

bindir="${TMPDIR:-/tmp}/toodoo-fleet-bin-$(id -u)"
mkdir -p "$bindir"
go build -o "$bindir/toodoo" ./cmd/toodoo
go build -o "$bindir/fleet" ./deploy/fleet
toodoo="$bindir/toodoo"

"$toodoo" migrate
if ! "$toodoo" tenant list --json | grep -q '"name": *"first"'; then
	log "no workspace first: creating the demo data of \`go tool task dev\`"
	"$toodoo" tenant create first --name "First Workspace"
	"$toodoo" tenant create second --name "Second Workspace"
	printf 'toodoo-demo\n' | "$toodoo" user create demo@example.com --superuser --password-stdin ||
		log "demo@example.com exists already: its password stays as it is"
	"$toodoo" member add first demo@example.com --role owner
	"$toodoo" member add second demo@example.com --role owner
	log "sign in as demo@example.com / toodoo-demo"
fi
exec "$bindir/fleet" --toodoo "$toodoo" "$@"
