#!/usr/bin/env bash
# `make test-versions`: for every interpreter named (see find-python.sh), builds and installs
# memray into a virtualenv of that interpreter (.venvs/<version>) and runs the whole Python
# end-to-end suite there. Prints one line per version ("3.12.1: 281 passed, 0 failed, 9 skipped",
# or "3.14: absent") and exits non-zero if any version failed or is absent. Each version's full
# output is kept in .venvs/logs/<version>.log; a failing version's tail is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .venvs/logs
summary=()
status=0
total_passed=0
total_failed=0
total_skipped=0
for name in "$@"; do
    py=$(scripts/find-python.sh "$name")
    if [ -z "$py" ]; then
        summary+=("$name: absent")
        total_failed=$((total_failed + 1))
        status=1
        continue
    fi
    version=$("$py" -c 'import platform; print(platform.python_version())')
    log=".venvs/logs/$version.log"
    echo "== CPython $version ($py)"
    start=$(date +%s)
    make --no-print-directory test-python PYTHON="$py" VIRTUAL_ENV= >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    # pytest's closing line, e.g. "== 3 failed, 281 passed, 9 skipped in 95.1s =="
    last=$(grep -E '^=*\s*[0-9]+ (passed|failed|error)' "$log" | tail -1)
    count() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' || echo 0; }
    passed=$(count passed)
    failed=$(($(count failed) + $(count error)))
    skipped=$(count skipped)
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1 # the build or the run itself failed
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    line="$version: $passed passed, $failed failed, $skipped skipped"
    echo "$line (${secs}s)"
    summary+=("$line")
    if [ "$rc" -ne 0 ]; then
        status=1
        tail -n 80 "$log"
    fi
done
echo
echo "== CPython versions"
printf '%s\n' "${summary[@]}"
echo "versions: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
