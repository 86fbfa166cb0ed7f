# A throw-away PostgreSQL server for scripts: initdb + pg_ctl from the system
# binaries into a temp dir, on a free port, run as the `postgres` user when
# we are root (PostgreSQL refuses to run as root). Source it, then:
#   pg_start            # exports PG_URL=postgres://postgres@127.0.0.1:PORT/bdd_demo
#   pg_stop             # also done on EXIT
# Needs: apt-get install postgresql

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
  echo "error: PostgreSQL binaries not found; install them with: apt-get install postgresql" >&2
  return 1
}

pg_as() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_free_port() {
  local port
  for port in $(seq 15432 15532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: no free port in 15432-15532" >&2
  return 1
}

pg_start() {
  local bin
  bin=$(pg_bin) || return 1
  PG_DIR=$(mktemp -d /tmp/bdd-demo-pg.XXXXXX)
  [[ $(id -u) == 0 ]] && chown postgres: "$PG_DIR"
  PG_PORT=$(pg_free_port) || return 1
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >/dev/null
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  pg_as "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bdd_demo
  PG_BIN=$bin
  export PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bdd_demo"
  trap pg_stop EXIT
}

pg_stop() {
  if [[ -n "${PG_DIR:-}" && -d "$PG_DIR/data" ]]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
  PG_DIR=
}
