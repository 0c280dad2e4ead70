#!/usr/bin/env bash
# Builds Citus from a source tarball and installs it into a PostgreSQL server (15, 16 or 17).
# usage: scripts/build-citus.sh CITUS_TARBALL [PG_CONFIG]
#   CITUS_TARBALL  a citus-X.Y.Z.tar.gz source archive (a release tag of citusdata/citus)
#   PG_CONFIG      the server's pg_config (default: Debian's PostgreSQL 15)
#   BUILD_DIR=DIR  where to unpack and build (default: a fresh temporary directory)
# Needs root for apt-get (the build dependencies, Debian's PostgreSQL 15 only) and for
# `make install`. About a minute on 2 cores. Prints the installed citus.so path last.
# The test suite runs it once per machine, when citus.so is not installed yet.
set -euo pipefail
TARBALL=$(cd "$(dirname "${1:?usage: build-citus.sh CITUS_TARBALL [PG_CONFIG]}")" && pwd)/$(basename "$1")
PG_CONFIG=${2:-/usr/lib/postgresql/15/bin/pg_config}
if [ "$PG_CONFIG" = /usr/lib/postgresql/15/bin/pg_config ] || [ ! -x "$PG_CONFIG" ]; then
  pkgs="postgresql-server-dev-15 libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev autoconf flex bison"
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
major=$("$PG_CONFIG" --version | grep -oE '[0-9]+' | head -1)
BUILD_DIR=${BUILD_DIR:-$(mktemp -d)}
tar -xzf "$TARBALL" -C "$BUILD_DIR"
src=$(find "$BUILD_DIR" -mindepth 1 -maxdepth 1 -type d -name 'citus*' | head -1)
cd "$src"
# PostgreSQL 15.20 exports have_createdb_privilege(); Citus 13.2 defines a static copy for servers
# before 16, which then fails to compile. Drop the copy where the server has it.
if [ "$major" = 15 ] && grep -q "have_createdb_privilege" "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h" \
   && grep -q "have_createdb_privilege(void)" src/include/pg_version_compat.h; then
  python3 - <<'PY'
p = "src/include/pg_version_compat.h"
s = open(p).read()
i = s.index("static inline bool\nhave_createdb_privilege(void)")
j = s.index("\n}\n", i) + 3
open(p, "w").write(s[:i] + s[j:])
PY
fi
PG_CONFIG="$PG_CONFIG" ./configure --without-libcurl >configure.log 2>&1 || { tail -20 configure.log; exit 1; }
make -j"$(nproc)" >make.log 2>&1 || { grep -m5 -E "error" make.log; exit 1; }
make install >install.log 2>&1 || { tail -20 install.log; exit 1; }
echo "$("$PG_CONFIG" --pkglibdir)/citus.so"
