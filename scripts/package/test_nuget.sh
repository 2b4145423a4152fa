#!/usr/bin/env bash
# The NuGet package installed as a Mono app installs it: `nuget install` (NuGet 2.8.7, Debian's
# client) from a local feed holding only the .nupkg into a clean project, the app
# (tests/packages/NugetApp.cs) compiled against lib/netstandard2.0/NodeSpace.dll, and the
# build output laid out as a .NET build lays it out (the assembly, its .config, runtimes/);
# then run with no environment variable: it embeds and streams a greedy answer, which must
# equal the reference CLI's. Also checks the package holds every runtimes/<rid>/native/ whose
# platform was built.
#
#   scripts/package/test_nuget.sh NUGET_DIR NATIVE_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
. scripts/need.sh
. scripts/env.sh  # ONNX Runtime for the reference CLI (the app runs without it)
need mcs mono-mcs || exit 1
need mono mono-runtime || exit 1
need nuget nuget || exit 1
nuget_dir=$(cd "${1:?usage: test_nuget.sh NUGET_DIR NATIVE_DIR}" && pwd)
native=$(cd "${2:?usage: test_nuget.sh NUGET_DIR NATIVE_DIR}" && pwd)
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' bindings/csharp/NodeSpace.csproj)
fail() { echo "nuget package: FAILED: $*" >&2; exit 1; }
[ -f "$nuget_dir/NodeSpace.$version.nupkg" ] || fail "no $nuget_dir/NodeSpace.$version.nupkg: run scripts/package/nuget.sh"

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/feed" "$work/app/bin"
cp "$nuget_dir/NodeSpace.$version.nupkg" "$work/feed/"
cd "$work/app"
HOME=$work nuget install NodeSpace -Version "$version" -Source "$work/feed" -OutputDirectory packages -NonInteractive >/dev/null ||
  fail "nuget install NodeSpace failed"
pkg=packages/NodeSpace.$version
declare -A rid=([linux-x64]=linux-x64 [win32-x64]=win-x64 [darwin-arm64]=osx-arm64 [darwin-x64]=osx-x64)
declare -A lib=([linux-x64]=libnodespace.so [win32-x64]=nodespace.dll [darwin-arm64]=libnodespace.dylib [darwin-x64]=libnodespace.dylib)
for platform in linux-x64 win32-x64 darwin-arm64 darwin-x64; do
  [ -f "$native/$platform/INFO" ] || continue
  d=$pkg/runtimes/${rid[$platform]}/native
  [ -f "$d/${lib[$platform]}" ] || fail "$d/${lib[$platform]} missing"
  ls "$d" | grep -qi onnxruntime || fail "$d has no ONNX Runtime"
  cmp -s "$d/${lib[$platform]}" "$native/$platform/${lib[$platform]}" || fail "$d/${lib[$platform]} is not the stripped build"
  grep -q "runtimes/${rid[$platform]}/native/${lib[$platform]}" "$pkg/lib/netstandard2.0/NodeSpace.dll.config" ||
    fail "NodeSpace.dll.config maps no runtimes/${rid[$platform]}"
done

# The build: reference the package's assembly; the output gets it, its .config and runtimes/.
cp "$pkg"/lib/netstandard2.0/* bin/
cp -r "$pkg/runtimes" bin/
mcs -nologo -langversion:7.2 -warnaserror+ -out:bin/App.exe -r:bin/NodeSpace.dll -r:System.Runtime.Serialization.dll \
  "$REPO/tests/packages/NugetApp.cs"
got=$(cd / && env -u LD_LIBRARY_PATH -u NS_ONNXRUNTIME_PATH -u ORT_DYLIB_PATH -u MONO_PATH \
  mono "$work/app/bin/App.exe" "$REPO/models/tiny/embed-bert" "$REPO/models/tiny/gen-llama") || fail "the app failed"
echo "app: $got"
cli=$REPO/target/release/examples/cli
[ -x "$cli" ] || (cd "$REPO" && cargo build --release --example cli)
want=$("$cli" generate --model "$REPO/models/tiny/gen-llama" --user "Summarize: the meeting moved to Friday." \
  --greedy --max-new-tokens 16 --json | tail -1)
GOT=$got WANT=$want python3 - <<'PY' || fail "wrong results"
import json, os
got, want = json.loads(os.environ["GOT"]), json.loads(os.environ["WANT"])
bad = []
if got["dimension"] != 32: bad.append(f"dimension {got['dimension']}")
if got["sameCosine"] != 1: bad.append(f"equal texts at cosine {got['sameCosine']}")
if not got["otherBelowOne"]: bad.append("different texts at cosine 1")
if not got["streamedEqualsText"]: bad.append("the stream differs from the text")
if got["text"] != want["text"] or got["tokens"] != 16:
    bad.append(f"text {got['text']!r} ({got['tokens']} tokens), the CLI's {want['text']!r}")
if bad:
    raise SystemExit("; ".join(bad))
PY
echo "nuget package: ok (installed by Debian's nuget $(dpkg-query -W -f='${Version}' nuget 2>/dev/null || echo '?') into a clean project; Mono app loaded runtimes/linux-x64 with no environment; text equal to the CLI's)"
