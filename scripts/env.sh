# Source this file: points nodespace at the development ONNX Runtime in .venv.
#   . scripts/env.sh
_ns_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
if [ -z "${NS_ONNXRUNTIME_PATH:-}" ]; then
  for _ns_lib in "$_ns_root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* \
                 "$_ns_root"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime*.dylib; do
    if [ -f "$_ns_lib" ]; then export NS_ONNXRUNTIME_PATH="$_ns_lib"; break; fi
  done
fi
export PATH="$_ns_root/.venv/bin:$PATH"
unset _ns_root _ns_lib
