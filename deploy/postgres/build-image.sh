#!/usr/bin/env bash
# build-image.sh IMAGE: makes sure the PostgreSQL image IMAGE exists in the local Docker engine.
# If it is there, nothing happens. Otherwise it is pulled; if no registry answers (as on our build
# machines), an equivalent image is built offline from Debian's packages: mmdebstrap makes a minimal
# bookworm root with postgresql-15, `docker import` turns it into an image, and docker-entrypoint.sh
# gives it the official image's interface (POSTGRES_USER/PASSWORD/DB, non-root server, port 5432).
set -euo pipefail
image="${1:?usage: build-image.sh IMAGE}"
here="$(cd "$(dirname "$0")" && pwd)"

# The recipe's hash is stored as a label, so an image built offline from an older recipe is
# rebuilt; an image that did not come from this script (a pulled official one) is kept.
recipe="$(cat "$here/build-image.sh" "$here/docker-entrypoint.sh" | sha256sum | cut -c1-16)"
old_id=""
if labels="$(docker image inspect -f '{{json .Config.Labels}}' "$image" 2>/dev/null)"; then
	case "$labels" in
	*"\"org.toodoo.pg-image.recipe\":\"$recipe\""*) ours=current ;;
	*Toodoo*) ours=stale ;;
	*) ours=no ;;
	esac
	if [ "$ours" != stale ]; then
		echo "pg-image: $image is present"
		exit 0
	fi
	old_id="$(docker image inspect -f '{{.Id}}' "$image")"
	echo "pg-image: $image was built from an older recipe; rebuilding"
elif timeout 60 docker pull "$image" >/dev/null 2>&1; then
	echo "pg-image: pulled $image"
	exit 0
else
	echo "pg-image: $image cannot be pulled"
fi
echo "pg-image: building $image offline from Debian packages (about a minute)"

if ! command -v mmdebstrap >/dev/null; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mmdebstrap --variant=minbase --include=postgresql-15 \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/no-main.conf"' \
	--customize-hook="copy-in $here/docker-entrypoint.sh /usr/local/bin" \
	--customize-hook='chmod 755 "$1/usr/local/bin/docker-entrypoint.sh"' \
	--customize-hook='mkdir -p "$1/var/lib/postgresql/data" "$1/docker-entrypoint-initdb.d" && chroot "$1" chown -R postgres:postgres /var/lib/postgresql && chmod 700 "$1/var/lib/postgresql/data"' \
	--customize-hook='rm -rf "$1/var/cache/apt"/*.bin "$1/var/lib/apt/lists"/*' \
	bookworm "$work/rootfs.tar" http://deb.debian.org/debian

docker import \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'USER postgres' \
	--change 'WORKDIR /var/lib/postgresql' \
	--change 'VOLUME /var/lib/postgresql/data' \
	--change 'EXPOSE 5432' \
	--change "LABEL org.toodoo.pg-image.recipe=$recipe" \
	--change 'LABEL org.opencontainers.image.description="PostgreSQL 15 on Debian bookworm, built offline by Toodoo (deploy/postgres)"' \
	--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	"$work/rootfs.tar" "$image" >/dev/null
echo "pg-image: built $image offline ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
if [ -n "$old_id" ]; then
	docker image rm "$old_id" >/dev/null 2>&1 || true # still used by a container: leave it
fi
