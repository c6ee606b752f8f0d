#!/bin/sh
# fuzz/run.sh BUILD_DIR [SECONDS] — builds the libFuzzer targets (fuzz/Makefile: clang
# -fsanitize=fuzzer,address,undefined, the library compiled once for all of them) into BUILD_DIR,
# replays every committed regression input (fuzz/regressions/TARGET/), then fuzzes for SECONDS
# (default 60) of wall time in all, two targets side by side (CI has two cores):
#   lane 1: fuzz_onnx_import          the whole time (ONNX import, shapes, passes, lowering, writer, run)
#   lane 2: fuzz_fgq_load             1/2   (the .fgq loader and runtime)
#           fuzz_data                 3/10  (.npy, .npz, IDX, gzip; data preparation)
#           fuzz_policy               1/10  (weight policies, candidates, ranges, other flag values)
#           fuzz_quant_flags          the rest (the quantize flag parser, --layer NAME=POLICY, ...)
# Seeds: the valid models of tests/test_runtime_load.c and fuzz/seeds/fgq/ (.fgq), fuzz/seeds/ (ONNX models and data
# files from fuzz/make_seeds.py, policy strings and flag lines), examples/mnist-8/model.onnx and the
# MNIST labels file, plus the regression inputs. What a run discovers stays in BUILD_DIR/corpus/.
#
# FGQ_FUZZ_ONLY="TARGET ..." fuzzes just those targets, one after another, each for SECONDS (local
# runs: `FGQ_FUZZ_ONLY=fuzz_onnx_import fuzz/run.sh build-fuzz 300`).
#
# Exit status: non-zero when a regression input fails or a target finds something; the reproducer
# is BUILD_DIR/TARGET-crash-* / -timeout-* / -leak-* / -oom-*, the log BUILD_DIR/TARGET.log. A
# reproducer, minimised (./TARGET -minimize_crash=1 FILE), goes to fuzz/regressions/TARGET/ with
# the fix, and a test that feeds it through the CLI or the API.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
secs=${2:-60}
jobs=${FGQ_FUZZ_JOBS:-$(nproc)}
targets="fuzz_onnx_import fuzz_fgq_load fuzz_data fuzz_policy fuzz_quant_flags"

make -s -f "$root/fuzz/Makefile" -j"$jobs" OUT="$out" CLANG="${CLANG:-clang}"

# ---- seed corpora (rebuilt each run; small) ----
seeds="$out/seeds"
rm -rf "$seeds"
for t in $targets; do
    mkdir -p "$seeds/$t" "$out/corpus/$t"
done
"$out/fgq_seed_writer" --write-seeds "$seeds/fuzz_fgq_load"
cp "$root"/fuzz/seeds/fgq/*.fgq "$seeds/fuzz_fgq_load/" # QLUT, QMUL, MATMUL_INT, Mod, Not, ScatterND
cp "$root"/fuzz/seeds/onnx/*.onnx "$root/examples/mnist-8/model.onnx" "$seeds/fuzz_onnx_import/"
# fuzz_data's first byte picks the options (member, range, normalisation): 0 = defaults; 0x85 = member
# "y.npy", range "1:3", three channels
for f in "$root"/fuzz/seeds/data/* "$root/examples/mnist/t10k-labels-idx1-ubyte.gz"; do
    b=$(basename "$f")
    { printf '\000'; cat "$f"; } >"$seeds/fuzz_data/$b"
    { printf '\205'; cat "$f"; } >"$seeds/fuzz_data/$b.opt"
done
# one string per line / one argument vector per line (arguments split at spaces)
n=0
while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" >"$seeds/fuzz_policy/$n"
done <"$root/fuzz/seeds/policy.txt"
n=0
while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" | tr ' ' '\n' >"$seeds/fuzz_quant_flags/$n"
done <"$root/fuzz/seeds/quant_flags.txt"

cd "$out"
max_len() {
    case $1 in
    fuzz_policy) echo 256 ;;
    fuzz_quant_flags) echo 1024 ;;
    *) echo 65536 ;;
    esac
}
# fuzz_quant_flags prints usage errors on stderr, as the CLI would: closed (libFuzzer keeps its own
# reports and the sanitizers' on a copy of it)
extra() {
    case $1 in
    fuzz_quant_flags) echo "-close_fd_mask=2" ;;
    *) echo "" ;;
    esac
}
# op types and attribute names for the ONNX target (fuzz/onnx.dict)
dict() {
    case $1 in
    fuzz_onnx_import) echo "-dict=$root/fuzz/onnx.dict" ;;
    *) echo "" ;;
    esac
}

# ---- regressions: every committed input once ----
status=0
for t in $targets; do
    dir="$root/fuzz/regressions/$t"
    [ -d "$dir" ] || continue
    set -- "$dir"/*
    [ -e "$1" ] || continue
    # shellcheck disable=SC2046
    if ! ./"$t" -timeout=10 -rss_limit_mb=2048 $(extra "$t") "$@" >"$t.regressions.log" 2>&1; then
        echo "fuzz/run.sh: $t fails on a regression input in fuzz/regressions/$t:" >&2
        tail -n 40 "$t.regressions.log" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] || exit "$status"

# ---- fuzzing ----
fuzz() { # TARGET SECONDS
    t=$1
    s=$2
    [ "$s" -ge 1 ] || s=1
    regr="$root/fuzz/regressions/$t"
    [ -d "$regr" ] || regr=""
    rc=0
    # shellcheck disable=SC2046,SC2086
    ./"$t" -max_total_time="$s" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" $(extra "$t") $(dict "$t") \
        -print_final_stats=1 -artifact_prefix="$out/$t-" "corpus/$t" "seeds/$t" $regr >"$t.log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$t.log" | tail -n 1)
    echo "$t: ${runs:-?} runs in ${s} s, ${cov:-cov: ?}, exit $rc"
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$t.log" >&2
        return "$rc"
    fi
}

if [ -n "${FGQ_FUZZ_ONLY:-}" ]; then
    for t in $FGQ_FUZZ_ONLY; do
        fuzz "$t" "$secs" || status=1
    done
    exit "$status"
fi

fuzz fuzz_onnx_import "$secs" &
lane1=$!
(
    lane=0
    fuzz fuzz_fgq_load $((secs / 2)) || lane=1
    fuzz fuzz_data $((secs * 3 / 10)) || lane=1
    fuzz fuzz_policy $((secs / 10)) || lane=1
    fuzz fuzz_quant_flags $((secs - secs / 2 - secs * 3 / 10 - secs / 10)) || lane=1
    exit "$lane"
) &
lane2=$!
wait "$lane1" || status=1
wait "$lane2" || status=1
exit "$status"
