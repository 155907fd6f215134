#!/usr/bin/env bash
# Runs every test suite and ends with one line "N passed, N failed" (the sum over all
# suites); exits non-zero on any failure. Called by ./build/dev.sh test, which builds and
# installs first and exports AORTA_PREFIX, AORTA_BUILDDIR, AORTA_SRCDIR.
set -u
: "${AORTA_PREFIX:?run through ./build/dev.sh test}"
: "${AORTA_BUILDDIR:?}" "${AORTA_SRCDIR:?}"
passed=0
failed=0

# 1. Unit tests: every Check program built under tests/.
while IFS= read -r prog; do
    name=${prog#"$AORTA_BUILDDIR/tests/"}
    # Check programs exit without tearing down the core: leak reports there are noise.
    errf=$(mktemp)
    out=$(ASAN_OPTIONS=detect_leaks=0 CK_FORK=yes CK_DEFAULT_TIMEOUT=30 "$prog" 2>"$errf")
    rc=$?
    err=$(cat "$errf"); rm -f "$errf"
    # Check's summary is on stdout; what the code under test logs goes to stderr
    summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
    if [ -n "$summary" ]; then
        n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$summary")
        f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$summary")
        e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$summary")
        bad=$((f + e))
        passed=$((passed + n - bad))
        failed=$((failed + bad))
    else
        bad=1
        failed=$((failed + 1))
    fi
    if [ "$bad" -ne 0 ] || [ "$rc" -ne 0 ]; then
        printf '%s\n%s\n' "$out" "$err" | grep -vE ':P:' >&2
        echo "FAIL unit $name" >&2
        [ "$bad" -eq 0 ] && failed=$((failed + 1))
    else
        echo "ok   unit $name ($n checks)"
    fi
done < <(find "$AORTA_BUILDDIR/tests" -type f -perm -u+x -name 'check_*' ! -name '*.o' -path '*/unit/*' \
             ! -path '*/.libs/*' | sort)

# 2. Integration tests: the real daemon, real peers (python harness, SIPp, modesl).
out_file=$(mktemp)
python3 "$AORTA_SRCDIR/tests/harness/runner.py" | tee "$out_file"
line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$out_file" | tail -1)
rm -f "$out_file"
if [ -n "$line" ]; then
    p=$(sed -E 's/^integration: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
else
    echo "FAIL integration runner did not finish" >&2
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
