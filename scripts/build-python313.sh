#!/usr/bin/env bash
# Builds CPython 3.13 from Debian stable's (trixie's) source package, once per machine, into
# $MEMRAY_CACHE/python3.13-trixie (default ~/.cache/memray-rs), and prints the interpreter's
# path. A second run finds it and builds nothing. Only the upstream tarball is used (Debian's
# patches change the install layout), configured with --enable-shared and no PGO.
set -euo pipefail
CACHE="${MEMRAY_CACHE:-$HOME/.cache/memray-rs}"
PREFIX="$CACHE/python3.13-trixie"
PY="$PREFIX/bin/python3.13"
if [ -x "$PY" ] && "$PY" -c "import ssl, sqlite3, ctypes, venv" 2>/dev/null; then
    echo "$PY"
    exit 0
fi
log() { echo "build-python313: $*" >&2; }
mkdir -p "$CACHE/src"
cd "$CACHE/src"
if ! ls python3.13_*.orig.tar.xz >/dev/null 2>&1; then
    if ! [ -f /etc/apt/sources.list.d/memray-trixie-src.sources ]; then
        log "adding a deb-src entry for Debian trixie"
        cat > /etc/apt/sources.list.d/memray-trixie-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt-get update -qq >&2
    log "downloading the python3.13 source package"
    apt-get source --download-only -qq python3.13 >&2
fi
tarball=$(ls python3.13_*.orig.tar.xz | sort -V | tail -1)
version=${tarball#python3.13_}
version=${version%.orig.tar.xz}
# The build needs these headers for ssl (pip), sqlite3 (IPython), ctypes, lzma, bz2, readline.
missing=()
for p in build-essential libssl-dev zlib1g-dev libffi-dev libbz2-dev libsqlite3-dev liblzma-dev \
         libreadline-dev libncurses-dev uuid-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
rm -rf "Python-$version"
tar xf "$tarball"
cd "Python-$version"
log "building CPython $version into $PREFIX (a few minutes)"
./configure --quiet --prefix="$PREFIX" --enable-shared \
    LDFLAGS="-Wl,-rpath,$PREFIX/lib" >&2
make -j"$(nproc)" -s >/dev/null 2>"$CACHE/src/build-$version.log" || {
    tail -30 "$CACHE/src/build-$version.log" >&2; exit 1; }
make -s install >/dev/null 2>>"$CACHE/src/build-$version.log"
cd .. && rm -rf "Python-$version"
"$PY" -c "import ssl, sqlite3, ctypes, venv"
echo "$PY"
