#!/usr/bin/env bash
# The whole pg_steward test suite on throwaway servers started here.
#
#   bash test/run.sh                 # unit, regress (twice), isolation (twice), tap, examples
#   bash test/run.sh regress tap     # some suites
#   bash test/run.sh regress:updated_at isolation:updated_at_concurrent tap:001_dump_restore
#   bash test/run.sh install         # only build and install into build/tmp_install
#
# Builds the extension (PGXS, or the CMake build in $STEWARD_CMAKE_BUILD),
# installs it into build/tmp_install next to a private copy of the server (the
# system installation is never touched), and runs every server as an
# unprivileged user when started as root (initdb refuses root). Regress runs
# twice: in plain sessions and with shared_preload_libraries = pg_steward,
# against the same expected files: preloading may make things faster, never
# different. Ends with one line "pg_steward: N passed, M failed".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG_CONFIG=${PG_CONFIG:-pg_config}
OUT=$ROOT/build/test
TI=$ROOT/build/tmp_install
# STEWARD_VALGRIND=1: every server process runs under valgrind (memcheck) in
# a separate installation; reports land in build/test/valgrind/, and any
# error whose stack passes through pg_steward code fails the run.
[ "${STEWARD_VALGRIND-0}" = 1 ] && TI=$ROOT/build/tmp_install_valgrind
TEST_USER=${STEWARD_TEST_USER:-steward_test}

log() { printf '\n== %s\n' "$*"; }

# -- which suites --------------------------------------------------------------
declare -a SUITES=()
declare -A ONLY=()
if [ $# -eq 0 ]; then set -- unit regress isolation tap examples; fi
for arg in "$@"; do
  suite=${arg%%:*}
  case $suite in install|unit|regress|isolation|tap|examples) ;; *) echo "unknown suite: $suite" >&2; exit 2;; esac
  [[ " ${SUITES[*]-} " == *" $suite "* ]] || SUITES+=("$suite")
  if [[ $arg == *:* ]]; then ONLY[$suite]+="${arg#*:} "; fi
done
want() { [[ " ${SUITES[*]} " == *" $1 "* ]]; }
pick() {  # pick SUITE DIR EXT: test names for a suite
  local suite=$1 dir=$2 ext=$3
  if [ -n "${ONLY[$suite]-}" ]; then echo "${ONLY[$suite]}"; return; fi
  for f in "$dir"/*."$ext"; do [ -e "$f" ] && basename "$f" ".$ext"; done | sort | tr '\n' ' '
}

# -- build and install into the private tree ------------------------------------
BINDIR=$($PG_CONFIG --bindir); PKGLIBDIR=$($PG_CONFIG --pkglibdir); SHAREDIR=$($PG_CONFIG --sharedir)
PGXS_DIR=$(dirname "$($PG_CONFIG --pgxs)")/..
mkdir -p "$OUT"
log "build"
if [ -n "${STEWARD_CMAKE_BUILD-}" ]; then
  cmake --build "$STEWARD_CMAKE_BUILD" >/dev/null
else
  make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
fi
make -s -C test/modules PG_CONFIG="$PG_CONFIG" >/dev/null

if [ ! -x "$TI$BINDIR/postgres" ]; then
  # A relocatable copy of the server: it finds share/ and lib/ relative to bin/.
  mkdir -p "$TI$BINDIR" "$TI$PKGLIBDIR" "$TI$SHAREDIR"
  cp -a "$BINDIR/." "$TI$BINDIR/"
  cp -a "$PKGLIBDIR/." "$TI$PKGLIBDIR/"
  cp -a "$SHAREDIR/." "$TI$SHAREDIR/"
fi
if [ -n "${STEWARD_CMAKE_BUILD-}" ]; then
  DESTDIR=$TI cmake --install "$STEWARD_CMAKE_BUILD" >/dev/null
else
  make -s install DESTDIR="$TI" PG_CONFIG="$PG_CONFIG" >/dev/null
fi
make -s -C test/modules install DESTDIR="$TI" PG_CONFIG="$PG_CONFIG" >/dev/null
if [ "${STEWARD_VALGRIND-0}" = 1 ] && [ ! -e "$TI$BINDIR/postgres.real" ]; then
  mv "$TI$BINDIR/postgres" "$TI$BINDIR/postgres.real"
  cat >"$TI$BINDIR/postgres" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=no --track-origins=no --read-var-info=no \\
  --leak-check=no --num-callers=30 --error-limit=no \\
  --log-file=$OUT/valgrind/%p.log "$TI$BINDIR/postgres.real" "\$@"
WRAP
  chmod +x "$TI$BINDIR/postgres"
fi
if [ "${STEWARD_VALGRIND-0}" = 1 ]; then
  rm -rf "$OUT/valgrind"; mkdir -p "$OUT/valgrind"
  export PGCTLTIMEOUT=900 PG_TEST_TIMEOUT_DEFAULT=900
fi
export PATH=$TI$BINDIR:$PATH
if [ "${SUITES[*]}" = install ]; then echo "installed into $TI"; exit 0; fi

# -- run as an unprivileged user when root ---------------------------------------
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$TEST_USER" -- env PATH="$PATH" HOME="$OUT" "$@"
  else
    "$@"
  fi
}
if [ "$(id -u)" -eq 0 ]; then
  id "$TEST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER"
  chown -R "$TEST_USER" "$OUT"
  # the user must be able to reach the tree
  d=$ROOT; while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
fi

PASSED=0; FAILED=0; FAILED_NAMES=()
record() {  # record SUITE PASS FAIL
  PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3))
  if [ "$3" -gt 0 ]; then FAILED_NAMES+=("$1"); fi
}

# -- unit -----------------------------------------------------------------------
if want unit; then
  log "unit tests (GoogleTest, pure C++ core)"
  if [ -n "${STEWARD_CMAKE_BUILD-}" ]; then
    UNIT_BIN=$STEWARD_CMAKE_BUILD/steward_unit
  else
    UNIT_BIN=$ROOT/build/unit/steward_unit
    mkdir -p "$(dirname "$UNIT_BIN")"
    g++ -std=c++17 -O1 -g -Wall -Wextra -Isrc -o "$UNIT_BIN" test/unit/*.cpp src/core/*.cpp \
      -lgtest -lgtest_main -pthread
  fi
  set +e; "$UNIT_BIN" | tee "$OUT/unit.log"; rc=${PIPESTATUS[0]}; set -e
  p=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$OUT/unit.log" || echo 0)
  f=$(grep -oP '^\[  FAILED  \] \K[0-9]+(?= test)' "$OUT/unit.log" || echo 0)
  [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
  record unit "$p" "$f"
fi

# -- regress (pg_regress) ----------------------------------------------------------
count_regress() {  # count_regress LOG SUITE
  local p f
  p=$(grep -cE '\.\.\. ok|^ok ' "$1" || true)
  f=$(grep -cE '\.\.\. FAILED|^not ok ' "$1" || true)
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  record "$2" "$p" "$f"
}
# run_regress SUITE DRIVER INPUTDIR TESTS: the suite twice, in plain sessions
# and with the library preloaded, against the same expected files.
run_regress() {
  local suite=$1 driver=$2 inputdir=$3 tests=$4 mode dir extra
  for mode in plain preload; do
    log "$suite ($mode sessions)"
    dir=$OUT/$suite-$mode; rm -rf "$dir"; mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$TEST_USER" "$dir"
    extra=()
    [ $mode = preload ] && extra=(--temp-config="$ROOT/test/preload.conf")
    set +e
    as_user "$driver" --bindir="$TI$BINDIR" --inputdir="$inputdir" \
      --outputdir="$dir" --temp-instance="$dir/instance" --load-extension=pg_steward \
      "${extra[@]}" $tests 2>&1 | tee "$dir/run.log"
    set -e
    count_regress "$dir/run.log" "$suite-$mode"
    if [ -f "$dir/regression.diffs" ]; then head -c 20000 "$dir/regression.diffs"; fi
  done
}
if want regress; then
  run_regress regress "$PGXS_DIR/test/regress/pg_regress" "$ROOT" "$(pick regress sql sql)"
fi

# -- isolation -----------------------------------------------------------------------
# Twice as well: the preloaded run puts the hooks (the updated_at fast path,
# the soft-delete rewrite, the queue's shared-memory cursor) under the
# concurrent schedules from the first statement of every session.
if want isolation; then
  run_regress isolation "$PGXS_DIR/test/isolation/pg_isolation_regress" "$ROOT/test/isolation" \
    "$(pick isolation test/isolation/specs spec)"
fi

# -- TAP (test/t/*.pl) and the reference-system scenarios (examples/*/scenario.pl) -----
run_prove() {  # run_prove SUITE FILES...
  local suite=$1; shift
  log "$suite (TAP)"
  dir=$OUT/$suite; rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$TEST_USER" "$dir"
  files=("$@")
  [ ${#files[@]} -gt 0 ] || { echo "no $suite tests"; return; }
  set +e
  (cd "$dir" && as_user env TESTDIR="$dir" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
      STEWARD_ROOT="$ROOT" prove -I "$PGXS_DIR/test/perl" -I "$ROOT/test/perl" "${files[@]}") \
    2>&1 | tee "$dir/run.log"
  set -e
  # count assertions: prove's "Tests=N" minus the failed subtests
  total=$(grep -oP '^Files=[0-9]+, Tests=\K[0-9]+' "$dir/run.log" || echo 0)
  f=$( { grep -oP 'Failed \K[0-9]+(?=/[0-9]+ subtests)' "$dir/run.log" || true; } | awk '{s+=$1} END {print s+0}')
  f=${f:-0}
  grep -q '^Result: PASS' "$dir/run.log" || [ "$f" -gt 0 ] || f=1
  p=$((total - f)); [ "$p" -ge 0 ] || p=0
  record "$suite" "$p" "$f"
  if [ "$f" -gt 0 ]; then
    for l in "$dir"/tmp_check/log/regress_log_*; do [ -f "$l" ] && { echo "--- $l"; tail -n 60 "$l"; }; done
  fi
}
if want tap; then
  files=(); for t in $(pick tap test/t pl); do files+=("$ROOT/test/t/$t.pl"); done
  run_prove tap "${files[@]}"
fi
if want examples; then
  files=()
  for e in ${ONLY[examples]-$(ls -d examples/*/ 2>/dev/null | xargs -n1 basename 2>/dev/null)}; do
    [ -f "$ROOT/examples/$e/scenario.pl" ] && files+=("$ROOT/examples/$e/scenario.pl")
  done
  run_prove examples "${files[@]}"
fi

if [ "${STEWARD_VALGRIND-0}" = 1 ]; then
  log "valgrind"
  # A report is ours when one of its four innermost frames is pg_steward
  # code (our hooks sit on every stack when preloaded, so deeper frames
  # prove nothing).
  ours=$(for l in "$OUT"/valgrind/*.log; do
           awk '/^==[0-9]+== $/ {n=0; next} /^==[0-9]+== +(at|by) / {n++; if (n<=4 && /pg_steward|steward::/) hit=1}
                END {exit !hit}' "$l" && echo "$l"; done || true)
  echo "$(ls "$OUT"/valgrind/*.log | wc -l) server processes ran under valgrind;" \
       "$(grep -l 'ERROR SUMMARY\|Invalid\|uninitialised' "$OUT"/valgrind/*.log 2>/dev/null | wc -l) logs with any report"
  if [ -n "$ours" ]; then
    echo "reports involving pg_steward code:"; for l in $ours; do echo "--- $l"; head -60 "$l"; done
    record valgrind 0 1
  else
    record valgrind 1 0
  fi
fi

echo
[ ${#FAILED_NAMES[@]} -gt 0 ] && echo "failing suites: ${FAILED_NAMES[*]}"
echo "pg_steward: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
