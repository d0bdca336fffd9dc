# Sourced by .ci/run: starts a private PostgreSQL cluster for the store's
# tests (sync/pgstore, cmd/voucherd -db) and exports VOUCHERD_TEST_DB; the
# cluster is stopped and removed when the run exits. Installs Debian's
# postgresql if missing. The cluster lives in a temp dir, owned by the
# postgres user when run as root (initdb refuses root), on a free port with
# a socket dir of its own, so it never meets a system PostgreSQL.
#
# fsync is off in this throwaway cluster: the tests check behaviour, not
# the disk; the benchmarks (docs/server.md) run against real settings.

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bin)" ]; then
  pg_sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && pg_sudo="sudo"
  $pg_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $pg_sudo apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(pg_bin)
pg_dir=$(mktemp -d /tmp/voucherd-ci-pg.XXXXXX)
pg_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$pg_dir"
  pg_as=(runuser -u postgres --)
fi
pg_port=""
for p in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then pg_port=$p; break; fi
done
[ -n "$pg_port" ] || { echo "no free port for PostgreSQL"; exit 1; }
"${pg_as[@]}" "$PGBIN/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync -E UTF8 >"$pg_dir/initdb.log"
"${pg_as[@]}" mkdir "$pg_dir/sock"
pg_stop() {
  "${pg_as[@]}" "$PGBIN/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap pg_stop EXIT
"${pg_as[@]}" "$PGBIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w start \
  -o "-p $pg_port -k $pg_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" >/dev/null
export VOUCHERD_TEST_DB="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
export VOUCHERD_TEST_DB_REQUIRED=1
echo "--- PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port (VOUCHERD_TEST_DB)"
