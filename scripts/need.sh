# Source this file. `need COMMAND PACKAGE...` makes sure COMMAND is on PATH: when it is
# missing it apt-installs the Debian PACKAGEs if this runs as root on a machine with
# apt-get, else it says what to install and returns 1. `apt_install PACKAGE...` is the
# installing half, for needs that are not a command (it returns 1 when it cannot install).
# What the scripts need and install this way: README.md, "What a fresh machine needs".
#   . scripts/need.sh; need pkg-config pkg-config || exit 1
_ns_apt_updated=""
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  echo "== installing $* (apt-get)"
  if [ -z "$_ns_apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    _ns_apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$@" && command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "error: $cmd is needed: install $* (Debian/Ubuntu package names)" >&2
  return 1
}
