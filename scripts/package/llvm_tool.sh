#!/usr/bin/env bash
# Runs an LLVM binary tool that is one program with llvm-objcopy (objcopy, strip,
# install-name-tool: it picks its behaviour from its own name), from PATH (Debian's llvm) or
# else the Rust toolchain's rust-objcopy, called by the tool's name.
#   scripts/package/llvm_tool.sh objcopy|install-name-tool ARGS...
set -euo pipefail
tool=llvm-${1:?usage: llvm_tool.sh objcopy|install-name-tool ARGS...}; shift
command -v "$tool" >/dev/null && exec "$tool" "$@"
sysroot=$(rustc --print sysroot)
objcopy=$(ls "$sysroot"/lib/rustlib/*/bin/rust-objcopy 2>/dev/null | head -1)
[ -n "$objcopy" ] || { echo "error: no $tool: install Debian's llvm, or a Rust toolchain with rust-objcopy (rustup)" >&2; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
ln -s "$objcopy" "$dir/$tool"
LD_LIBRARY_PATH="$sysroot/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$dir/$tool" "$@"
