#!/bin/bash
# Runs inside the kernel-tier guest (chroot over the host's /usr and /etc, see init.sh): `deno ARGS...` from the
# repository root, exiting with its status. The host (guest.ts) writes /run/out/guest.env (DENO, REPO, TIMEOUT_S,
# optionally DENO_DIR_SEED: a filled DENO_DIR to start from, and extra exported environment) and /run/out/deno.args
# (one argument per line); results go to /run/out.
# The guest has no network: Deno finds npm packages in the repository's node_modules/ (the host fills it when it
# type-checks) and gets an empty DENO_DIR on tmpfs; callers pass --cached-only so nothing waits for a network.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root DENO_DIR=/run/deno DENO_NO_UPDATE_CHECK=1 DN42OP_NO_CLUSTER=1
out=/run/out
# shellcheck source=/dev/null
source "$out/guest.env"
mapfile -t args <"$out/deno.args"
if [ -n "${DENO_DIR_SEED:-}" ]; then
  mkdir -p "$DENO_DIR" && cp -a "$DENO_DIR_SEED/." "$DENO_DIR/" || echo "dn42op-kt: could not copy $DENO_DIR_SEED"
fi
cd "$REPO" || exit 2
echo "dn42op-kt: deno start: ${args[*]:0:1}"
# Through a pipe, so that Deno writes plain lines (on a terminal it redraws each test's line with \r).
timeout -k 10 "$TIMEOUT_S" "$DENO" "${args[@]}" 2>&1 | cat
rc=${PIPESTATUS[0]}
[ "$rc" -ne 124 ] || echo "dn42op-kt: deno timed out after ${TIMEOUT_S}s"
exit "$rc"
