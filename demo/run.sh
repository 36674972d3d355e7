#!/usr/bin/env bash
# The README's first command: on a fresh Debian/Ubuntu machine, install what
# is missing, build and install pg_steward, start a throwaway PostgreSQL
# server, run the demo of every feature (demo/NN_*.sql, in order) and stop
# the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
make -s -j"$(nproc)"
$SUDO make -s install
export STEWARD_SERVER_BINDIR=$(pg_config --bindir)
source test/lib/server.sh
steward_install
steward_server_start demo -c shared_preload_libraries=pg_steward
trap steward_server_stop EXIT
export PGOPTIONS="-c client_min_messages=warning"
spsql -c "CREATE EXTENSION pg_steward"
for f in demo/[0-9]*.sql; do
  echo
  echo "################ $(basename "$f")"
  psql -X -v ON_ERROR_STOP=1 -f "$f"
done
echo
echo "demo finished; the throwaway server is stopped now."
