#!/usr/bin/env bash
# Prints the interpreter that a version name in `make test-versions PYTHONS=...` stands for, or
# nothing when this machine does not have it:
#   a path           that path
#   3.13-debian      CPython 3.13 built from Debian trixie's source (scripts/build-python313.sh)
#   X.Y or X.Y.Z     pyenv's newest matching interpreter, else python X.Y on PATH
set -uo pipefail
name="$1"
case "$name" in
*/*)
    [ -x "$name" ] && echo "$name"
    exit 0
    ;;
3.13-debian)
    py="${MEMRAY_CACHE:-$HOME/.cache/memray-rs}/python3.13-trixie/bin/python3.13"
    [ -x "$py" ] && echo "$py"
    exit 0
    ;;
esac
minor=$(echo "$name" | cut -d. -f1-2)
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
best=""
for dir in $(ls -d "$root/versions/$name" "$root/versions/$name".* 2>/dev/null | sort -V); do
    [ -x "$dir/bin/python$minor" ] && best="$dir/bin/python$minor"
done
if [ -z "$best" ] && command -v "python$minor" >/dev/null 2>&1; then
    py=$(command -v "python$minor")
    full=$("$py" -c 'import platform; print(platform.python_version())' 2>/dev/null)
    case "$full" in "$name" | "$name".*) best="$py" ;; esac
fi
[ -n "$best" ] && echo "$best"
exit 0
