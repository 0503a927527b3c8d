#!/bin/sh
# Tests the simulator: re-injects each known Raft bug into its own build of failoverd-sim and
# asserts that the default seeds catch it; the correct build must catch nothing.
#   tests/raft-faults.sh              direct compiles with cc (fast; used by make check)
#   tests/raft-faults.sh --configure  ./configure --enable-raft-fault=X && make failoverd-sim
set -u

root=
if [ -n "${srcdir:-}" ] && [ -f "$srcdir/src/raft/raft.c" ]; then
    root=$(cd "$srcdir" && pwd)
else
    root=$(cd "$(dirname "$0")/.." && pwd)
fi
mode=direct
[ "${1:-}" = "--configure" ] && mode=configure
cc=${CC:-cc}
faults="stale-ack figure8 lease-from-recv no-vote-stickiness ack-before-fsync"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raft-faults.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# build NAME (none: the correct build) -> $tmp/NAME/failoverd-sim
build() {
    out="$tmp/$1"
    mkdir -p "$out"
    if [ "$mode" = configure ]; then
        opt=
        [ "$1" != none ] && opt="--enable-raft-fault=$1"
        (cd "$out" && "$root/configure" $opt >configure.log 2>&1 &&
            make -j2 failoverd-sim >make.log 2>&1) || {
            echo "FAIL build fault=$1 (see $out)"
            return 1
        }
        return 0
    fi
    def=
    if [ "$1" != none ]; then
        def=-DFO_RAFT_FAULT_$(echo "$1" | tr 'a-z-' 'A-Z_')
    fi
    # shellcheck disable=SC2086
    $cc -std=gnu11 -O2 -D_GNU_SOURCE $def -I"$root/include" -I"$root/src" \
        "$root"/src/raft/raft.c "$root"/src/raft/raft_log.c "$root"/src/raft/raft_elect.c \
        "$root"/src/raft/raft_repl.c "$root"/src/raft/msg.c "$root"/src/core/fo.c \
        "$root"/src/sim/sim.c "$root"/src/sim/sim_check.c "$root"/src/sim/sim_scen.c \
        "$root"/src/sim/sim_trace.c "$root"/src/sim/main.c -o "$out/failoverd-sim" \
        >"$out/cc.log" 2>&1 || {
        cat "$out/cc.log"
        echo "FAIL build fault=$1"
        return 1
    }
}

status=0
build none || exit 1
if "$tmp/none/failoverd-sim" >"$tmp/none.out" 2>&1; then
    echo "ok correct $(tail -n 1 "$tmp/none.out")"
else
    grep -E '^VIOLATION' "$tmp/none.out" | head -n 5
    echo "FAIL correct build: $(tail -n 1 "$tmp/none.out")"
    status=1
fi

for f in $faults; do
    build "$f" || {
        status=1
        continue
    }
    "$tmp/$f/failoverd-sim" --stop-on-violation >"$tmp/$f.out" 2>&1
    rc=$?
    line=$(grep -E '^VIOLATION' "$tmp/$f.out" | head -n 1)
    if [ "$rc" -eq 1 ] && [ -n "$line" ]; then
        seed=$(echo "$line" | sed -n 's/.*seed=\([0-9]*\).*/\1/p')
        prop=$(echo "$line" | sed -n 's/.*property=\([a-z-]*\).*/\1/p')
        echo "ok fault=$f seed=$seed property=$prop"
    else
        echo "FAIL fault=$f not caught (exit $rc): $(tail -n 1 "$tmp/$f.out")"
        status=1
    fi
done
exit $status
