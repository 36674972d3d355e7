# Throwaway PostgreSQL servers for benchmarks and the demo. Source it:
#
#   source test/lib/server.sh
#   steward_install                          # build + install into build/tmp_install
#   steward_server_start bench -c shared_preload_libraries=pg_steward
#   spsql -c 'SELECT 1'                      # psql to it (database "steward")
#   steward_server_stop
#
# The server runs from the private installation of test/run.sh, as an
# unprivileged user when we are root (initdb refuses root), on a free port
# with its socket in its own directory. Its data directory is under
# build/servers/NAME and is removed by steward_server_stop.

STEWARD_ROOT=${STEWARD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STEWARD_TEST_USER=${STEWARD_TEST_USER:-steward_test}
_PGC=${PG_CONFIG:-pg_config}
# STEWARD_SERVER_BINDIR=$(pg_config --bindir) uses the system installation
# (after `make install`) instead of the private one.
_STEWARD_BINDIR=${STEWARD_SERVER_BINDIR:-$STEWARD_ROOT/build/tmp_install$($_PGC --bindir)}

steward_install() {
  [ -n "${STEWARD_SERVER_BINDIR-}" ] || bash "$STEWARD_ROOT/test/run.sh" install >/dev/null
  if [ "$(id -u)" -eq 0 ] && ! id "$STEWARD_TEST_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$STEWARD_TEST_USER"
  fi
  export PATH=$_STEWARD_BINDIR:$PATH
}

_as_test_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$STEWARD_TEST_USER" -- env PATH="$PATH" "$@"; else "$@"; fi
}

_free_port() {
  local p
  for p in $(shuf -i 20000-40000 -n 50); do
    (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
  done
  echo 5499
}

# steward_server_start NAME [postgres options...]
steward_server_start() {
  local name=$1; shift
  export STEWARD_SERVER_DIR=$STEWARD_ROOT/build/servers/$name
  rm -rf "$STEWARD_SERVER_DIR"; mkdir -p "$STEWARD_SERVER_DIR/socket"
  [ "$(id -u)" -eq 0 ] && chown -R "$STEWARD_TEST_USER" "$STEWARD_SERVER_DIR"
  local d=$STEWARD_ROOT; while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
  export PGPORT=$(_free_port) PGHOST=$STEWARD_SERVER_DIR/socket PGUSER=$STEWARD_TEST_USER PGDATABASE=steward
  export PGDATA=$STEWARD_SERVER_DIR/data
  _as_test_user initdb -D "$PGDATA" -A trust -U "$STEWARD_TEST_USER" --no-sync >"$STEWARD_SERVER_DIR/initdb.log" 2>&1
  _as_test_user pg_ctl -D "$PGDATA" -l "$STEWARD_SERVER_DIR/server.log" -w \
    -o "-p $PGPORT -k $PGHOST -c listen_addresses='' -c fsync=off $*" start >/dev/null
  psql -q -d postgres -c "CREATE DATABASE steward" >/dev/null
}

steward_server_stop() {
  [ -n "${PGDATA-}" ] && [ -d "$PGDATA" ] || return 0
  _as_test_user pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$STEWARD_SERVER_DIR"
}

spsql() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

# callgrind_instructions SETUP_SQL STATEMENT: CPU instructions of STATEMENT
# ($CALLGRIND_PG_OPTS adds postgres options, e.g. "-c shared_preload_libraries=pg_steward")
# (one statement per line: single-user mode ends a statement at a newline)
# run in single-user mode on a copy of the stopped server's data directory
# after SETUP_SQL (minus the same run of SELECT 1). Deterministic.
callgrind_instructions() {
  local setup=$1 stmt=$2 copy=$STEWARD_SERVER_DIR/cg
  psql -q -c CHECKPOINT >/dev/null
  rm -rf "$copy"; cp -a "$PGDATA" "$copy"; rm -f "$copy/postmaster.pid"
  [ "$(id -u)" -eq 0 ] && chown -R "$STEWARD_TEST_USER" "$copy"
  local out=$STEWARD_SERVER_DIR/cg.out
  _as_test_user bash -c "printf '%s\n' \"\$1\" | postgres --single -D '$copy' -c fsync=off ${CALLGRIND_PG_OPTS-} steward >/dev/null 2>&1" _ "$setup"
  _as_test_user bash -c "printf '%s\n' \"\$1\" | valgrind --tool=callgrind --callgrind-out-file=/dev/null postgres --single -D '$copy' -c fsync=off ${CALLGRIND_PG_OPTS-} steward" _ "$stmt" >"$out" 2>&1
  local total base
  total=$(grep -oP 'Collected : \K[0-9]+' "$out")
  _as_test_user bash -c "printf 'SELECT 1;\n' | valgrind --tool=callgrind --callgrind-out-file=/dev/null postgres --single -D '$copy' -c fsync=off ${CALLGRIND_PG_OPTS-} steward" >"$out" 2>&1
  base=$(grep -oP 'Collected : \K[0-9]+' "$out")
  rm -rf "$copy"
  echo $((total - base))
}
