#!/usr/bin/env bash
# The Windows build under Wine: nodespace.dll from scripts/cross.sh with ONNX Runtime's own
# Windows DLLs from PyPI, and Windows programs cross-compiled with mingw-w64.
#   1. the C-ABI cases (tests/c/abi_cases.c), each in its own process, and the C examples,
#      as tests/c_abi.rs runs them on Linux; ONNX Runtime found beside nodespace.dll;
#   2. real models (tests/windows/platform_checks.c, built for Linux and for Windows):
#      embeddings within 1e-5 of the Linux build's, greedy tokens identical, model folders
#      under C:\Users\Zoë Ünal\Documents\モデル\ with \ and / separators;
#   3. finding ONNX Runtime: beside nodespace.dll, through NS_ONNXRUNTIME_PATH, missing
#      (the error lists every place looked), too old (named as such);
#   4. DirectML with onnxruntime-directml's DLLs: auto falls back to CPU and says why
#      (Wine has no Direct3D 12 device), directml asked for fails with a status.
# What Wine needs and Windows does not stays here: Wine 8.0 has no bcryptprimitives.dll
# (Rust's std imports ProcessPrng from it), so a one-function stand-in is put beside the
# test programs, never into what ships.
# Needs: target/cross/x86_64-pc-windows-gnu (scripts/cross.sh windows), target/release
# (cargo build --release), real models from scripts/setup.sh (skipped loudly without
# them unless NS_REQUIRE_REAL_MODELS=1). Installs wine64 (apt) and the ONNX Runtime wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
. scripts/need.sh
CACHE=${NS_CROSS_CACHE:-$HOME/.cache/nodespace-cross}
BUILD=target/cross/x86_64-pc-windows-gnu
ORT_CPU=onnxruntime==1.31.1
ORT_DML=onnxruntime-directml==1.24.4  # the newest onnxruntime-directml on PyPI

[ -f "$BUILD/nodespace.dll" ] || { echo "error: $BUILD/nodespace.dll is missing: run scripts/cross.sh windows" >&2; exit 1; }
[ -f target/release/libnodespace.so ] || { echo "error: target/release/libnodespace.so is missing: run cargo build --release" >&2; exit 1; }
export PATH="$CACHE/tools/root/usr/bin:$PATH"
MINGW=x86_64-w64-mingw32-gcc-win32
command -v $MINGW >/dev/null || { echo "error: $MINGW is missing: scripts/cross.sh installs it" >&2; exit 1; }
WINE=/usr/lib/wine/wine64
[ -x $WINE ] || apt_install wine64 || { echo "error: wine64 is needed (Debian package wine64)" >&2; exit 1; }

# ONNX Runtime's Windows DLLs, from the win_amd64 wheels (pip of scripts/setup.sh's .venv).
PIP=pip; [ -x .venv/bin/pip ] && PIP=$REPO/.venv/bin/pip
ort_dlls() { # PIN -> prints the folder holding its DLLs
  local dir=$CACHE/onnxruntime-win/${1//==/-}
  if [ ! -f "$dir/onnxruntime.dll" ]; then
    local tmp; tmp=$(mktemp -d)
    "$PIP" download -q --no-deps --platform win_amd64 --only-binary=:all: --python-version 3.11 "$1" -d "$tmp" >&2
    python3 -m zipfile -e "$tmp"/*.whl "$tmp/x"
    mkdir -p "$dir" && cp "$tmp"/x/onnxruntime/capi/*.dll "$dir/"
    rm -rf "$tmp"
  fi
  echo "$dir"
}
cpu_dlls=$(ort_dlls $ORT_CPU)
dml_dlls=$(ort_dlls $ORT_DML)

export WINEPREFIX=$CACHE/wineprefix WINEDEBUG=-all LANG=C.UTF-8 LC_ALL=C.UTF-8
unset NS_ONNXRUNTIME_PATH ORT_DYLIB_PATH  # Linux paths; each Windows run sets its own
C=$WINEPREFIX/drive_c
if [ ! -d "$C" ]; then echo "== creating the Wine prefix (once)"; $WINE wineboot -i >/dev/null 2>&1 || true; fi
W=$C/nodespace
rm -rf "$W"; mkdir -p "$W"/{beside,env,missing,old,directml,ort-cpu,scratch,app,lib}

# The programs.
cflags=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -I"$REPO/include")
$MINGW "${cflags[@]}" tests/c/abi_cases.c -L"$BUILD" -l:nodespace.dll.a -static -lpthread -o "$W/abi_cases.exe"
$MINGW "${cflags[@]}" -municode tests/windows/platform_checks.c -L"$BUILD" -l:nodespace.dll.a -static -o "$W/platform_checks.exe"
$MINGW -shared -O2 tests/c/fake_onnxruntime.c -o "$W/fake_onnxruntime.dll"
$MINGW -shared -O2 tests/windows/bcryptprimitives.c -o "$W/bcryptprimitives.dll" -ladvapi32
for d in beside env missing old directml; do
  cp "$BUILD/nodespace.dll" "$W/bcryptprimitives.dll" "$W/abi_cases.exe" "$W/platform_checks.exe" "$W/$d/"
done
cp "$cpu_dlls"/*.dll "$W/beside/"
# An app whose DLLs live in another folder (found through PATH): ONNX Runtime is looked
# for beside nodespace.dll, not only beside the executable.
cp "$W/platform_checks.exe" "$W/app/"
cp "$BUILD/nodespace.dll" "$W/bcryptprimitives.dll" "$cpu_dlls"/*.dll "$W/lib/"
cp "$cpu_dlls"/*.dll "$W/ort-cpu/"
cp "$W/fake_onnxruntime.dll" "$W/old/onnxruntime.dll"
cp "$dml_dlls"/*.dll "$W/directml/"
cp -r models/tiny "$W/tiny"

win() { # FOLDER PROGRAM ARGS...: run a test program under Wine (cwd: its folder); CRLF -> LF.
  # A hang is a failure, not a stuck suite.
  local dir=$1 exe=$2; shift 2
  (cd "$W/$dir" && timeout 600 $WINE "$exe" "$@") | tr -d '\r'
}

failures=()
fail() { failures+=("$1"); echo "FAILED: $1" >&2; }
expect() { # LABEL OUTPUT PATTERN...: every pattern (grep -E) is in the output
  local label=$1 out=$2; shift 2
  for p in "$@"; do grep -qE -- "$p" <<<"$out" || { fail "$label: no '$p' in:
$out"; return; }; done
  echo "$label: ok"
}

# 1. The C-ABI cases.
echo "== C-ABI cases under Wine (ONNX Runtime beside nodespace.dll)"
export NS_TINY='C:\nodespace\tiny'
cp -r "$W/tiny/embed-bert" "$W/scratch/truncated"
python3 - "$W/scratch/truncated/onnx/model.onnx" <<'EOF'
import sys; p = sys.argv[1]; b = open(p, 'rb').read(); open(p, 'wb').write(b[:len(b) // 2])
EOF
cp -r "$W/tiny/embed-bert" "$W/scratch/tokenizer"
printf '\0garbage{' > "$W/scratch/tokenizer/tokenizer.json"
printf 'this is text, not a shared library\n' > "$W/scratch/not-a-library.dll"
ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["cases"][0]["generated_ids"])))' models/tiny/gen-llama/expected.json)
cases=()
for c in $(sed -n 's/^ *CASE(\([a-z_0-9]*\));/\1/p' tests/c/abi_cases.c); do cases+=("$c"); done
cases+=("truncated_onnx C:\\nodespace\\scratch\\truncated" "garbage_tokenizer C:/nodespace/scratch/tokenizer"
  "token_ids_and_older_request $ids" "runtime_not_a_library C:\\nodespace\\scratch\\not-a-library.dll"
  "runtime_wrong_library C:\\nodespace\\fake_onnxruntime.dll" "runtime_wrong_library C:\\nodespace\\bcryptprimitives.dll")
real_smollm=models/real/SmolLM2-135M-Instruct
[ -d $real_smollm ] && cases+=("cancel_mid_prefill Z:$REPO/$real_smollm")
passed=0
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  if out=$(win beside abi_cases.exe $c 2>&1); then
    passed=$((passed + 1))
  else
    fail "abi case $c: $out"
  fi
done
echo "C-ABI cases: $passed of ${#cases[@]} passed"

# The C examples, as tests/c_abi.rs runs them on Linux: the generated text must be the
# Linux build's.
$MINGW "${cflags[@]}" examples/c/embed.c -L"$BUILD" -l:nodespace.dll.a -static -o "$W/beside/embed.exe"
$MINGW "${cflags[@]}" examples/c/generate.c -L"$BUILD" -l:nodespace.dll.a -static -o "$W/beside/generate.exe"
mkdir -p target/release/c-tests
cc "${cflags[@]}" examples/c/generate.c -Ltarget/release -Wl,-rpath,"$REPO/target/release" -lnodespace \
  -o target/release/c-tests/generate_example
expect "examples/c/embed.c" "$(win beside embed.exe 'C:\nodespace\tiny\embed-bert' "a cat" "a cat" "stock prices fell")" \
  "32 dimensions" "cos\[0\]: 1\.0000 1\.0000"
l=$(. scripts/env.sh && target/release/c-tests/generate_example models/tiny/gen-llama hello 12 2>/dev/null)
w=$(win beside generate.exe 'C:\nodespace\tiny\gen-llama' hello 12 2>/dev/null)
if [ -n "$l" ] && [ "$l" = "$w" ]; then echo "examples/c/generate.c: text equal to the Linux build's: ok"; else
  fail "examples/c/generate.c: Linux printed '$l', Windows '$w'"; fi

# 2. Real models, Linux build against Windows build.
docs="$C/users/Zoë Ünal/Documents/モデル"
models=(all-MiniLM-L6-v2 SmolLM2-135M-Instruct Qwen2.5-Coder-0.5B-Instruct)
have=()
for m in "${models[@]}"; do [ -d "models/real/$m" ] && have+=("$m"); done
if [ ${#have[@]} -lt ${#models[@]} ]; then
  msg="real models missing (${models[*]}; found: ${have[*]:-none}): run scripts/setup.sh"
  if [ -n "${NS_REQUIRE_REAL_MODELS:-}" ]; then fail "$msg"; else echo "*** SKIPPED real-model checks: $msg ***"; fi
fi
linux_checks=target/release/c-tests/platform_checks
cc -std=c11 -Wall -Wextra -Werror -O1 -Iinclude tests/windows/platform_checks.c -Ltarget/release \
  -Wl,-rpath,"$REPO/target/release" -lnodespace -o $linux_checks
linux() { (. scripts/env.sh && $linux_checks "$@"); }
rm -rf "$C/users/Zoë Ünal"
for m in "${have[@]}"; do
  # Real folders with the characters that break naive path handling; the files are links.
  mkdir -p "$docs/$m" && cp -rs "$REPO/models/real/$m/." "$docs/$m/"
done
compare_embeddings() { # NAME LINUX_OUT WINDOWS_OUT
  python3 - "$@" <<'EOF' || fail "embeddings $1: Linux and Windows builds differ (above)"
import sys
name, a, b = sys.argv[1:]
def vectors(text):
    return [list(map(float, l.split(":")[1].split())) for l in text.splitlines() if l.startswith("vector ")]
va, vb = vectors(a), vectors(b)
assert va and len(va) == len(vb) and all(len(x) == len(y) for x, y in zip(va, vb)), f"shapes differ:\n{a[:300]}\n{b[:300]}"
diff = max(abs(x - y) for ra, rb in zip(va, vb) for x, y in zip(ra, rb))
print(f"{name}: {len(va)} vectors x {len(va[0])}, max abs difference Linux vs Windows {diff:.2e}")
sys.exit(0 if diff <= 1e-5 else 1)
EOF
}
for m in "${have[@]}"; do
  case $m in
    all-MiniLM-L6-v2)
      l=$(linux embed "models/real/$m")
      w1=$(win beside platform_checks.exe embed "C:\\users\\Zoë Ünal\\Documents\\モデル\\$m")
      w2=$(win beside platform_checks.exe embed "C:/users/Zoë Ünal/Documents/モデル/$m")
      compare_embeddings "$m (\\ separators)" "$l" "$w1"
      compare_embeddings "$m (/ separators)" "$l" "$w2" ;;
    *)
      l=$(linux generate "models/real/$m" q4)
      w=$(win beside platform_checks.exe generate "C:\\users\\Zoë Ünal\\Documents\\モデル\\$m" q4)
      lt=$(grep '^tokens:' <<<"$l"); wt=$(grep '^tokens:' <<<"$w")
      if [ "$lt" = "$wt" ] && [ "$(wc -w <<<"$lt")" -gt 10 ] && [ "$l" = "$w" ]; then
        echo "$m q4: greedy tokens and text identical ($(( $(wc -w <<<"$lt") - 1 )) tokens)"
      else
        fail "$m q4 greedy output differs: Linux:
$l
Windows:
$w"
      fi ;;
  esac
done

# 3. Finding ONNX Runtime.
expect "ONNX Runtime beside nodespace.dll" "$(win beside platform_checks.exe runtime)" "status: NS_OK" "version: 1\.31\.1" \
  'loaded ONNX Runtime 1\.31\.1 from C:\\nodespace\\beside\\onnxruntime\.dll'
expect "ONNX Runtime beside nodespace.dll, the program elsewhere" \
  "$(WINEPATH='C:\nodespace\lib' win app platform_checks.exe runtime)" "status: NS_OK" "version: 1\.31\.1" \
  'loaded ONNX Runtime 1\.31\.1 from C:\\nodespace\\lib\\onnxruntime\.dll'
expect "ONNX Runtime through NS_ONNXRUNTIME_PATH" \
  "$(NS_ONNXRUNTIME_PATH='C:\nodespace\ort-cpu\onnxruntime.dll' win env platform_checks.exe runtime)" "status: NS_OK" "version: 1\.31\.1" \
  'loaded ONNX Runtime 1\.31\.1 from C:\\nodespace\\ort-cpu\\onnxruntime\.dll'
expect "ONNX Runtime missing" "$(win missing platform_checks.exe runtime)" "status: NS_ERR_RUNTIME_NOT_FOUND" \
  'NS_ONNXRUNTIME_PATH and ORT_DYLIB_PATH \(none set\)' 'C:\\nodespace\\missing\\onnxruntime.dll \(not found\)' "system loader 'onnxruntime.dll'"
expect "ONNX Runtime too old beside nodespace.dll" "$(win old platform_checks.exe runtime)" "status: NS_ERR_RUNTIME_NOT_FOUND" \
  'C:\\nodespace\\old\\onnxruntime.dll \(ONNX Runtime 1\.10\.0 is too old: nodespace needs 1\.22 or newer\)'
expect "NS_ONNXRUNTIME_PATH naming a missing file" \
  "$(NS_ONNXRUNTIME_PATH='C:\nodespace\nowhere\onnxruntime.dll' win env platform_checks.exe runtime)" \
  "status: NS_ERR_RUNTIME_NOT_FOUND" 'NS_ONNXRUNTIME_PATH C:\\nodespace\\nowhere\\onnxruntime.dll'

# 4. DirectML (the DLL is built with the directml feature).
tiny_embed='C:\nodespace\tiny\embed-bert'
expect "DirectML auto falls back to CPU" "$(win directml platform_checks.exe device "$tiny_embed" auto)" \
  "status: NS_OK" "provider: CPUExecutionProvider" "fallback: auto: tried directml, not usable: .+; using CPU"
expect "DirectML asked for fails with a status" "$(win directml platform_checks.exe device "$tiny_embed" directml)" \
  "status: NS_ERR_(UNSUPPORTED|RUNTIME)" "message: .*(directml|DirectML|Dml)"
expect "DirectML asked for, CPU-only ONNX Runtime" "$(win beside platform_checks.exe device "$tiny_embed" directml)" \
  "status: NS_ERR_UNSUPPORTED" "message: directml requested, but the loaded ONNX Runtime has no DmlExecutionProvider"

# 5. The artifact check catches a DLL that is not nodespace's (so its pass above means something).
mkdir -p "$W/not-nodespace" && cp "$W/fake_onnxruntime.dll" "$W/not-nodespace/nodespace.dll"
if out=$("$CACHE/tools/check/bin/python" scripts/check_cross.py x86_64-pc-windows-gnu "$W/not-nodespace" 2>&1); then
  fail "check_cross.py passed a DLL that is not nodespace: $out"
else
  expect "the artifact check refuses a DLL that is not nodespace" "$out" "header functions not exported: ns_abi_version" \
    "exported beyond the C ABI: OrtGetApiBase" "nodespace.dll.a: missing"
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "== Windows under Wine: ${#failures[@]} failure(s)"
  exit 1
fi
echo "== Windows under Wine: all checks passed"
