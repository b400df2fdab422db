#!/usr/bin/env bash
# What the browser downloads, brotli-compressed, against budgets (run after
# `cargo leptos build --release --split --precompress`, which writes the .br files).
# First route: the main JS, the main WASM module and the split loader, which every first page
# load fetches. Route chunks: each lazily loaded WASM chunk on its own.
# Budgets in KiB come from the environment (the Makefile sets them); exit 1 if one is crossed.
set -euo pipefail
PKG="${1:-target/site/pkg}"
FIRST_ROUTE_KB="${FIRST_ROUTE_KB:?set FIRST_ROUTE_KB}"
CHUNK_KB="${CHUNK_KB:?set CHUNK_KB}"

br_size() { # the .br beside a file, which --precompress writes
  local f="$1"
  [[ -f "$f.br" ]] || { echo "size-check: $f.br is missing (build with --precompress)" >&2; exit 2; }
  stat -c %s "$f.br"
}
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }

shopt -s nullglob
main_js=("$PKG"/blueprint*.js)
main_wasm=("$PKG"/blueprint*.wasm)
loader=("$PKG"/__wasm_split*.js)
[[ ${#main_js[@]} -eq 1 && ${#main_wasm[@]} -eq 1 ]] || {
  echo "size-check: expected one main .js and one main .wasm in $PKG" >&2; exit 2; }

first=0
for f in "${main_js[0]}" "${main_wasm[0]}" "${loader[@]}"; do
  s=$(br_size "$f"); first=$((first + s))
  printf '  %-48s %8s KiB br\n' "$(basename "$f")" "$(kib "$s")"
done
status=0
printf 'first route: %s KiB brotli (budget %s KiB)\n' "$(kib "$first")" "$FIRST_ROUTE_KB"
if (( first > FIRST_ROUTE_KB * 1024 )); then
  echo "size-check: the first route is over its budget" >&2; status=1
fi

largest=0; largest_name=-; over=0
for f in "$PKG"/chunk_*.wasm; do
  s=$(br_size "$f")
  (( s > largest )) && { largest=$s; largest_name=$(basename "$f"); }
  if (( s > CHUNK_KB * 1024 )); then
    printf 'size-check: %s is %s KiB brotli, over %s KiB\n' "$(basename "$f")" "$(kib "$s")" "$CHUNK_KB" >&2
    over=1
  fi
done
printf 'largest route chunk: %s, %s KiB brotli (budget %s KiB)\n' "$largest_name" "$(kib "$largest")" "$CHUNK_KB"
(( over == 0 )) || status=1
exit $status
