/* For Wine 8.0 only, never shipped: Wine has no bcryptprimitives.dll, whose ProcessPrng
 * Rust's std imports on Windows 10 and later. The test harnesses put this one-function
 * stand-in beside the programs they run (scripts/test_windows.sh, scripts/package/test_npm.sh). */
#include <windows.h>
#include <ntsecapi.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) { return RtlGenRandom(data, (ULONG)len); }
