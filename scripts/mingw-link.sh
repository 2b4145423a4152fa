#!/usr/bin/env bash
# The Windows linker for scripts/cross.sh: mingw-w64's gcc, with rustc's export list cut to
# the C ABI. rustc exports every #[no_mangle] function of every crate linked into a cdylib
# (rust-lang/rust#73958) and lists them in the .def file it hands the linker: llguidance's
# own C API (llg_*) would be exported from nodespace.dll beside ours. Lines naming a symbol
# that is not ns_* are dropped from that file; everything else passes through unchanged.
set -euo pipefail
args=()
for arg in "$@"; do
  def=${arg#-Wl,} # rustc passes it as -Wl,<dir>/list.def
  if [[ $def == *.def && -f $def ]]; then
    # Symbol lines are indented, the name possibly quoted: `  "ns_embed_batch"`.
    awk '/^[ \t]+"?[A-Za-z_]/ && $1 !~ /^"?ns_/ { next } { print }' "$def" > "$def.ns"
    mv "$def.ns" "$def"
  fi
  args+=("$arg")
done
exec "${NS_MINGW_GCC:-x86_64-w64-mingw32-gcc-win32}" "${args[@]}"
