#!/usr/bin/env bash
# Run by `make install` and `make uninstall` (never with DESTDIR): when
# LIBDIR is a directory the dynamic linker searches, refresh its cache with
# ldconfig, so programs find libkvdb.so.0 at once (or stop finding it).
# Otherwise, after an install, say how programs can find the library.
#
# Usage: scripts/after-install.sh [--quiet] LIBDIR
set -euo pipefail
quiet=
if [ "${1:-}" = --quiet ]; then quiet=1; shift; fi
libdir="$1"
ldconfig="${LDCONFIG:-ldconfig}"
command -v "$ldconfig" >/dev/null 2>&1 || ldconfig=/sbin/ldconfig

searched() {
  local want dir
  want=$(readlink -f "$libdir") || return 1
  [ -x "$(command -v "$ldconfig" 2>/dev/null)" ] || return 1
  while IFS= read -r dir; do
    [ "$(readlink -f "$dir" 2>/dev/null)" = "$want" ] && return 0
  done < <("$ldconfig" -v -N -X 2>/dev/null | sed -n 's/^\(\/[^:]*\):.*/\1/p')
  return 1
}

if searched; then
  echo "$ldconfig"
  "$ldconfig"
elif [ -z "$quiet" ]; then
  cat <<MSG
note: $libdir is not a directory the dynamic linker searches. A program
      linked with -lkvdb finds libkvdb.so.0 at run time if it was linked with
      -Wl,-rpath,$libdir, or run with LD_LIBRARY_PATH=$libdir, or once
      $libdir is listed in /etc/ld.so.conf.d/ (then run ldconfig).
MSG
fi
