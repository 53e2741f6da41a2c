#!/bin/bash
# Runs inside the kernel-tier guest (chroot over the host's /usr and /etc, see init.sh) and exits with the status of
# `deno test`. The host writes /run/out/guest.env (DENO, REPO, TIMEOUT_S and extra environment) and
# /run/out/tests.list (test files relative to REPO, one per line); the JUnit report goes to /run/out/junit.xml.
# The guest has no network: Deno runs with --cached-only on the repository's node_modules/, with an empty DENO_DIR
# on tmpfs, and without type-checking (the host type-checks the same files first).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root DENO_DIR=/run/deno DENO_NO_UPDATE_CHECK=1 DN42OP_NO_CLUSTER=1
out=/run/out
# shellcheck source=/dev/null
source "$out/guest.env"
mapfile -t files <"$out/tests.list"
cd "$REPO" || exit 2
echo "dn42op-kt: tests start: ${#files[@]} files"
# Through a pipe, so that Deno writes plain lines (on a terminal it redraws each test's line with \r).
timeout -k 10 "$TIMEOUT_S" "$DENO" test --no-check -A --cached-only --junit-path="$out/junit.xml" "${files[@]}" 2>&1 | cat
rc=${PIPESTATUS[0]}
[ "$rc" -ne 124 ] || echo "dn42op-kt: deno test timed out after ${TIMEOUT_S}s"
exit "$rc"
