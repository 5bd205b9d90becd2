#!/usr/bin/env bash
# dev.sh [run|start|reset|url]: the development database behind `go tool task dev`.
#
#   run    (what `go tool task dev` does) with DATABASE_URL set, build and run `toodoo dev` on
#          that database; otherwise `start` the container and run `toodoo dev` on it. Arguments
#          are passed on to `toodoo dev`.
#   start  make sure the PostgreSQL image exists (deploy/postgres/build-image.sh), then start the
#          container toodoo-dev-postgres (created once, with its data in the named volume
#          toodoo-dev-pgdata, so it survives restarts), publish it on 127.0.0.1:$TOODOO_DEV_PG_PORT
#          and wait until it accepts connections. Prints nothing on stdout but the URL.
#   reset  remove the container and its volume: the next start begins with an empty database.
#   url    print the DATABASE_URL of the running container.
#
# Environment: TOODOO_DEV_PG_IMAGE (default $TOODOO_TEST_PG_IMAGE or postgres:15-bookworm, the
# image the test harness uses), TOODOO_DEV_PG_PORT (default 55432).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${TOODOO_DEV_PG_IMAGE:-${TOODOO_TEST_PG_IMAGE:-postgres:15-bookworm}}"
port="${TOODOO_DEV_PG_PORT:-55432}"
name=toodoo-dev-postgres
volume=toodoo-dev-pgdata

# url prints the container's URL, with the port it really publishes (it may have been created
# with another TOODOO_DEV_PG_PORT). It publishes on the loopback address only, so the fixed
# password is no exposure.
url() {
	local hostport
	hostport="$(docker port "$name" 5432/tcp | head -n 1)"
	[ -n "$hostport" ] || { log "container $name publishes no port"; exit 1; }
	echo "postgres://toodoo:toodoo@${hostport}/toodoo?sslmode=disable"
}

log() { echo "dev: $*" >&2; }

ready() {
	# Over TCP inside the container: while the entrypoint initialises the cluster, its temporary
	# server listens on no TCP address, so this answers only once the real server is up.
	docker exec "$name" pg_isready -q -h 127.0.0.1 -p 5432 -U toodoo -d toodoo >/dev/null 2>&1
}

start() {
	command -v docker >/dev/null || { log "docker is not installed (or set DATABASE_URL to use your own PostgreSQL)"; exit 1; }
	state="$(docker inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)"
	case "$state" in
	running) ;;
	"")
		"$here/../postgres/build-image.sh" "$image" >&2
		log "creating container $name (data in volume $volume) on 127.0.0.1:$port"
		docker volume create "$volume" >/dev/null
		docker run -d --name "$name" \
			--label org.toodoo.dev=1 \
			-e POSTGRES_USER=toodoo -e POSTGRES_PASSWORD=toodoo -e POSTGRES_DB=toodoo \
			-v "$volume:/var/lib/postgresql/data" \
			-p "127.0.0.1:$port:5432" \
			"$image" >/dev/null
		;;
	*)
		log "starting container $name ($state)"
		docker start "$name" >/dev/null
		;;
	esac
	for _ in $(seq 1 120); do
		if ready; then
			url
			return 0
		fi
		if [ "$(docker inspect -f '{{.State.Status}}' "$name")" != running ]; then
			log "container $name stopped; its log:"
			docker logs --tail 30 "$name" >&2
			exit 1
		fi
		sleep 0.5
	done
	log "PostgreSQL in $name is not ready after 60s; its log:"
	docker logs --tail 30 "$name" >&2
	exit 1
}

reset() {
	if docker inspect "$name" >/dev/null 2>&1; then
		docker rm -f "$name" >/dev/null
		log "removed container $name"
	fi
	if docker volume inspect "$volume" >/dev/null 2>&1; then
		docker volume rm "$volume" >/dev/null
		log "removed volume $volume"
	fi
	log "the next \`go tool task dev\` starts with an empty database"
}

run() {
	if [ -n "${DATABASE_URL:-}" ]; then
		log "DATABASE_URL is set: using that database (no container)"
	else
		DATABASE_URL="$(start)"
		export DATABASE_URL
	fi
	cd "$here/../.."
	# Built and exec'd rather than `go run`: on Ctrl-C, `go run` exits with status 1 even when the
	# server shut down cleanly, and task would report the stop as a failure.
	bin="${TMPDIR:-/tmp}/toodoo-dev-$(id -u)/toodoo"
	mkdir -p "$(dirname "$bin")"
	go build -o "$bin" ./cmd/toodoo
	exec "$bin" dev "$@"
}

cmd="${1:-run}"
[ "$#" -eq 0 ] || shift
case "$cmd" in
run) run "$@" ;;
start) start ;;
reset) reset ;;
url) url ;;
*) echo "usage: $0 [run|start|reset|url]" >&2; exit 2 ;;
esac
