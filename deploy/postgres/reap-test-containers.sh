#!/usr/bin/env bash
# reap-test-containers.sh: removes the PostgreSQL containers of internal/dbtest whose test binary
# is gone. Normally dbtest.Main, or the reaper process it starts, removes a test binary's container;
# this is the belt and braces for when both were killed. Containers of test binaries that are still
# running on this machine (another package, another developer's run) are left alone.
# Does nothing when Docker is not reachable.
set -euo pipefail
docker info >/dev/null 2>&1 || exit 0
host="$(hostname)"
docker ps -aq --filter label=org.toodoo.dbtest=1 | while read -r id; do
	labels="$(docker inspect -f '{{index .Config.Labels "org.toodoo.dbtest.host"}} {{index .Config.Labels "org.toodoo.dbtest.pid"}}' "$id" 2>/dev/null)" || continue
	read -r h pid <<<"$labels"
	if [ "$h" = "$host" ] && [ -n "${pid:-}" ] && [ -d "/proc/$pid" ]; then
		continue # its test binary is still running
	fi
	docker rm -f -v "$id" >/dev/null 2>&1 && echo "removed leftover test container $id (host ${h:-?}, pid ${pid:-?})"
done
