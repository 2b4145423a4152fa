# Source this file: `need COMMAND PACKAGE...` makes sure COMMAND is on PATH. When it is
# missing it apt-installs the Debian PACKAGEs if this runs as root on a machine with
# apt-get, else it says what to install and returns 1. What the scripts need and install
# this way is listed in README.md ("What a fresh machine needs").
#   . scripts/need.sh; need pkg-config pkg-config || exit 1
_ns_apt_updated=""
need() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing $* (for $cmd)"
    if [ -z "$_ns_apt_updated" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && _ns_apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null &&
      command -v "$cmd" >/dev/null 2>&1 && return 0
  fi
  echo "error: $cmd is needed: install $* (Debian/Ubuntu package names)" >&2
  return 1
}
