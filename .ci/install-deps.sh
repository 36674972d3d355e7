#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build, test and demo
# pg_steward (PostgreSQL 15 server + headers, C++ toolchain, test tools).
# Idempotent; uses sudo when not root.
set -euo pipefail
PKGS="postgresql-15 postgresql-server-dev-15 postgresql-client-15 libipc-run-perl g++ make cmake
      libgtest-dev bc valgrind"
missing=()
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian keeps the server binaries out of PATH; the scripts call pg_config,
# which knows where they are.
command -v pg_config >/dev/null || { echo "pg_config not found after install" >&2; exit 1; }
