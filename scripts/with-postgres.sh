#!/usr/bin/env bash
# Run a command with a private PostgreSQL cluster on loopback (TEST_POSTGRES_URL set), so
# the tests run against SQLite and PostgreSQL. Without PostgreSQL installed it says so and
# runs the command against SQLite only.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql): SQLite only." >&2
  exec "$@"
fi

dir=$(mktemp -d /tmp/gespreksmaatje-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
  chown postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
# Connections: the tests run in parallel (one pytest-xdist worker per core), and a worker
# may hold about 60 at its peak (several stores with their pools, a bot process beside it).
connections=$(( 100 + 60 * $(nproc 2>/dev/null || echo 2) ))
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=$connections" \
  start >/dev/null
stop() { "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT
echo "with-postgres: private cluster on 127.0.0.1:$port" >&2
export TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port"
"$@"
