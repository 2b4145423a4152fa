#!/usr/bin/env bash
# Stage 2 (NuGet): NodeSpace.<version>.nupkg, the C# binding with every platform's native files.
#
#   scripts/package/nuget.sh NATIVE_DIR OUT_DIR
#
# The package (a zip, laid out as `dotnet pack` lays out bindings/csharp/NodeSpace.csproj):
#   NodeSpace.nuspec, [Content_Types].xml, _rels/.rels, README.md
#   lib/netstandard2.0/NodeSpace.dll (+ .xml docs, + .dll.config: Mono's map of "nodespace"
#                                      to runtimes/<rid>/native/ beside the assembly)
#   runtimes/{linux-x64,win-x64,osx-arm64,osx-x64}/native/   library + ONNX Runtime
# The assembly is compiled here by Mono's mcs (C# 7.2, the API netstandard2.0 has) against
# Mono's .NET Framework 4.x assemblies: it references mscorlib, System, System.Core and
# System.Runtime.Serialization, which .NET (Core) and netstandard2.0 projects resolve through
# their facades. Where a .NET SDK is at hand, `dotnet pack` of the .csproj builds the same
# package with netstandard2.0 and net8.0 assemblies compiled for those targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/need.sh
native=$(cd "${1:?usage: nuget.sh NATIVE_DIR OUT_DIR}" && pwd)
mkdir -p "${2:?usage: nuget.sh NATIVE_DIR OUT_DIR}"
out=$(cd "$2" && pwd)
here=bindings/csharp
need mcs mono-mcs || exit 1
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' $here/NodeSpace.csproj)
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT

lib=$stage/lib/netstandard2.0; mkdir -p "$lib"
mcs -langversion:7.2 -warn:4 -warnaserror+ -nologo -optimize+ -target:library -unsafe \
  -out:"$lib/NodeSpace.dll" -doc:"$lib/NodeSpace.xml" -nowarn:1591 \
  -r:System.dll -r:System.Core.dll -r:System.Runtime.Serialization.dll $here/src/*.cs

declare -A rid=([linux-x64]=linux-x64 [win32-x64]=win-x64 [darwin-arm64]=osx-arm64 [darwin-x64]=osx-x64)
maps=""
for platform in linux-x64 win32-x64 darwin-arm64 darwin-x64; do
  r=${rid[$platform]}
  if [ ! -f "$native/$platform/INFO" ]; then
    echo "*** nuget: runtimes/$r NOT PACKAGED: no $native/$platform ***" >&2
    continue
  fi
  mkdir -p "$stage/runtimes/$r/native"
  find "$native/$platform" -maxdepth 1 -type f ! -name INFO ! -name 'onnxruntime-*' -exec cp {} "$stage/runtimes/$r/native/" \;
  # ONNX Runtime's license files, per runtime (the versions differ), outside native/ so that
  # builds do not copy them into the app.
  cp "$native/$platform"/onnxruntime-*.txt "$stage/runtimes/$r/"
  case $platform in
    linux-x64) maps+="  <dllmap dll=\"nodespace\" os=\"linux\" cpu=\"x86-64\" target=\"runtimes/$r/native/libnodespace.so\" />"$'\n' ;;
    win32-x64) maps+="  <dllmap dll=\"nodespace\" os=\"windows\" cpu=\"x86-64\" target=\"runtimes/$r/native/nodespace.dll\" />"$'\n' ;;
    darwin-arm64) maps+="  <dllmap dll=\"nodespace\" os=\"osx\" cpu=\"armv8\" target=\"runtimes/$r/native/libnodespace.dylib\" />"$'\n' ;;
    darwin-x64) maps+="  <dllmap dll=\"nodespace\" os=\"osx\" cpu=\"x86-64\" target=\"runtimes/$r/native/libnodespace.dylib\" />"$'\n' ;;
  esac
done
# Mono only (.NET ignores it and reads runtimes/ through the app's deps.json): a relative
# target is looked for beside the assembly, where builds copy the runtimes/ tree.
cat > "$lib/NodeSpace.dll.config" <<EOF
<configuration>
$maps</configuration>
EOF

cp $here/README.md "$stage/README.md"
cat > "$stage/NodeSpace.nuspec" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>NodeSpace</id>
    <version>$version</version>
    <authors>nodespace</authors>
    <description>On-device sentence embeddings and streamed text generation over ONNX Runtime (nodespace C library, with ONNX Runtime for linux-x64, win-x64, osx-arm64 and osx-x64).</description>
    <license type="expression">MIT OR Apache-2.0</license>
    <readme>README.md</readme>
    <tags>embeddings llm onnxruntime text-generation</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>
EOF
# The Open Packaging Conventions parts every .nupkg carries.
cat > "$stage/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="config" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
  <Default Extension="1" ContentType="application/octet" />
  <Default Extension="dylib" ContentType="application/octet" />
  <Default Extension="md" ContentType="application/octet" />
  <Default Extension="txt" ContentType="application/octet" />
</Types>
EOF
mkdir -p "$stage/_rels"
cat > "$stage/_rels/.rels" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/NodeSpace.nuspec" Id="R1" />
</Relationships>
EOF
nupkg=$out/NodeSpace.$version.nupkg
rm -f "$nupkg"
python3 - "$stage" "$nupkg" <<'EOF'
import os, sys, zipfile
stage, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
    for folder, _, files in os.walk(stage):
        for name in sorted(files):
            path = os.path.join(folder, name)
            z.write(path, os.path.relpath(path, stage))
EOF
echo "nuget: $nupkg ($(du -k "$nupkg" | cut -f1) KB)"
