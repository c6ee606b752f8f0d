#!/bin/sh
# scripts/check_freestanding.sh — proves the runtime builds for a bare-metal
# target and needs nothing beyond libc string/memory functions, vsnprintf,
# libm and the compiler's own helper routines.
#
# Compiles every runtime/*.c runtime/*/*.c with -ffreestanding (and checks it again with
# -DFGQ_NO_MESSAGES, the firmware build without message text): for Cortex-M4
# (arm-none-eabi-gcc, -mcpu=cortex-m4 -mthumb -mfloat-abi=hard
# -mfpu=fpv4-sp-d16) when that compiler is installed (Debian gcc-arm-none-eabi
# + libnewlib-arm-none-eabi), else with the host gcc as a fallback. Then lists
# with nm every symbol the objects use but do not define, and fails if one is
# outside the allow-list.
#
# Stack: every object is also compiled with -fstack-usage, and the check fails
# on any runtime function whose frame passes 2048 bytes (or is unbounded). Why
# 2 KB, for the Cortex-M4 build this check is for: the runtime's deepest chain is about four frames
# (fgq_model_run -> op run -> task -> kernel), so it stays within ~8 KB, what a
# small Cortex-M firmware reserves for its main stack beside the RAM the model
# needs; working memory belongs in the caller's arena, where its size is
# stated (fgq_model_arena_size) rather than discovered by a hard fault. The
# host fallback (--host, or no arm-none-eabi-gcc) keeps the same limit: the
# x86 kernels take their buffers from the scratch too. FGQ_STACK_LIMIT
# overrides it.
# Usage: scripts/check_freestanding.sh [--host]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "${1:-}" != "--host" ] && command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    cc=arm-none-eabi-gcc
    nm=arm-none-eabi-nm
    target="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
    stack_limit=${FGQ_STACK_LIMIT:-2048}
else
    cc=${CC:-gcc}
    nm="nm"
    # firmware is not position independent: without -fno-pie Debian's gcc makes the objects refer
    # to _GLOBAL_OFFSET_TABLE_, a linker symbol no bare-metal image has
    target="-fno-pie"
    stack_limit=${FGQ_STACK_LIMIT:-2048}
    echo "check_freestanding: arm-none-eabi-gcc not found (or --host); using $cc -ffreestanding"
fi
cflags="-std=c11 -O2 -ffreestanding -fno-stack-protector -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror"

n=0
for src in "$root"/runtime/*.c "$root"/runtime/*/*.c; do
    [ -e "$src" ] || continue
    n=$((n + 1))
    rel=${src#"$root"/}
    obj="$tmp/$(echo "$rel" | tr '/.' '__').o"
    # shellcheck disable=SC2086
    if ! (cd "$tmp" && $cc $cflags $target -fstack-usage -I"$root/runtime" -c "$src" -o "$obj"); then
        echo "check_freestanding: FAILED to compile $rel with $cc" >&2
        exit 1
    fi
done

# The firmware build without message text (fgq_types.h FGQ_NO_MESSAGES) must compile warning-free too.
for src in "$root"/runtime/*.c "$root"/runtime/*/*.c; do
    # shellcheck disable=SC2086
    if ! $cc $cflags $target -DFGQ_NO_MESSAGES -fsyntax-only -I"$root/runtime" "$src"; then
        echo "check_freestanding: FAILED to compile ${src#"$root"/} with -DFGQ_NO_MESSAGES" >&2
        exit 1
    fi
done

# Symbols defined by the runtime itself, and those it needs from outside.
$nm --defined-only -g "$tmp"/*.o | awk 'NF >= 3 { print $3 }' | sort -u >"$tmp/defined"
$nm -u "$tmp"/*.o | awk 'NF >= 2 && $1 == "U" { print $2 }' | sort -u >"$tmp/undef_all"
comm -23 "$tmp/undef_all" "$tmp/defined" >"$tmp/external"

# Allowed: libc string/memory, vsnprintf (fgq_fail), libm, and compiler
# runtime helpers (ARM EABI __aeabi_*, libgcc arithmetic/conversion routines).
allowed='^(memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strchr|strrchr|strstr|vsnprintf'
allowed="$allowed"'|(exp|exp2|expm1|log|log2|log10|log1p|pow|sqrt|cbrt|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|erf|erfc'
allowed="$allowed"'|fabs|floor|ceil|round|lround|llround|rint|lrint|llrint|nearbyint|trunc|fmod|remainder|fmax|fmin|fma|ldexp|frexp|modf|scalbn|copysign|hypot)[fl]?'
allowed="$allowed"'|__aeabi_[a-z0-9_]+|__(u?(div|mod|mul)[dt]i3|u?divmod[dt]i4|(fix|fixuns|float|floatun)[sdt]f[sdt]i|(add|sub|mul|div)[sdt]f3|extendsfdf2|truncdfsf2|(eq|ne|lt|le|gt|ge|un)[sd]f2|clz[sd]i2|ctz[sd]i2|popcount[sd]i2|ffs[sd]i2|bswap[sd]i2))$'

bad=$(grep -Ev "$allowed" "$tmp/external" || true)
echo "check_freestanding: $n files compiled with $cc; external symbols: $(tr '\n' ' ' <"$tmp/external")"
if [ -n "$bad" ]; then
    echo "check_freestanding: FAILED: the runtime references symbols outside the allow-list:" >&2
    for s in $bad; do
        echo "  $s  (used by: $(cd "$tmp" && $nm -A -u ./*.o | awk -v s="$s" '$NF == s { sub(/^\.\//, "", $1); sub(/_o:$/, ".o", $1); print $1 }' | tr '\n' ' '))" >&2
    done
    exit 1
fi

# Stack frames: "file:line:col:function<TAB>bytes<TAB>static|dynamic[,bounded]" per function.
cat "$tmp"/*.su >"$tmp/stack"
echo "check_freestanding: largest stack frames (limit $stack_limit bytes):"
sort -t"$(printf '\t')" -k2,2nr "$tmp/stack" | head -5 | sed 's|^.*/runtime/|  runtime/|'
over=$(awk -F'\t' -v lim="$stack_limit" '$2 + 0 > lim + 0 || ($3 ~ /dynamic/ && $3 !~ /bounded/)' "$tmp/stack")
if [ -n "$over" ]; then
    echo "check_freestanding: FAILED: runtime functions above the $stack_limit-byte stack limit (or unbounded):" >&2
    echo "$over" | sed 's|^.*/runtime/|  runtime/|' >&2
    echo "  (move the buffer into the op's scratch: fgq_op_impl.scratch, runtime/fgq_ops.h)" >&2
    exit 1
fi
echo "check_freestanding: OK"
