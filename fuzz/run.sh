#!/bin/sh
# fuzz/run.sh BUILD_DIR [SECONDS] — build the .fgq loader fuzz target with
# clang -fsanitize=fuzzer,address,undefined into BUILD_DIR, generate a seed
# corpus from the valid models of tests/test_runtime_load.c, and fuzz for
# SECONDS (default 60). Exit status is libFuzzer's: non-zero on a finding
# (the reproducer is left in BUILD_DIR as crash-* / timeout-* / leak-*).
set -eu
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
secs=${2:-60}
cc=${CLANG:-clang}
runtime_src=$(ls "$root"/runtime/*.c "$root"/runtime/*/*.c)
cflags="-std=c11 -g -O1 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -D_POSIX_C_SOURCE=200809L -I$root/runtime"

# seed writer (the test's builder, plain build) and the fuzz target, compiled side by side
# shellcheck disable=SC2086
$cc $cflags -I"$root/tests" -o "$out/fgq_seed_writer" "$root/tests/test_runtime_load.c" $runtime_src -lm &
seed_pid=$!
# shellcheck disable=SC2086
$cc $cflags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -o "$out/fuzz_fgq_load" "$root/fuzz/fuzz_fgq_load.c" $runtime_src -lm
wait "$seed_pid"
mkdir -p "$out/fgq_corpus"
"$out/fgq_seed_writer" --write-seeds "$out/fgq_corpus"

cd "$out"
exec ./fuzz_fgq_load -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 fgq_corpus
