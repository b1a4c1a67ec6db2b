#!/usr/bin/env bash
# demo.sh: vessel's main job on a throwaway vessel-registry: make a
# key, push and sign hack/sample-model, inspect and verify it, pull it back
# verified; then show refusals: an untrusted key, no trust at all, and a
# tampered blob (exit code 3, no destination left behind).
#
# Usage: hack/demo.sh             (uses bin/vessel and bin/vessel-registry;
#                                  `make demo` builds them)
#        VESSEL=path/to/vessel VESSEL_REGISTRY=path/to/vessel-registry hack/demo.sh
#
# Needs nothing else: no Docker, no network beyond 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/hack/sample-model"

# Resolve VESSEL now: a relative path is relative to where we were started.
VESSEL=${VESSEL:-$ROOT/bin/vessel}
case "$VESSEL" in
  /*) ;;
  */*) VESSEL="$PWD/$VESSEL" ;;
  *) VESSEL=$(command -v "$VESSEL" || true) ;;
esac
if [[ -z "$VESSEL" || ! -x "$VESSEL" ]]; then
  echo "demo: vessel binary not found or not executable: ${VESSEL:-<empty>} (run 'make demo' or set VESSEL)" >&2
  exit 1
fi
VESSEL_REGISTRY=${VESSEL_REGISTRY:-$(dirname "$VESSEL")/vessel-registry}
if [[ ! -x "$VESSEL_REGISTRY" ]]; then
  echo "demo: vessel-registry binary not found or not executable: $VESSEL_REGISTRY (run 'make demo' or set VESSEL_REGISTRY)" >&2
  exit 1
fi

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vessel-demo.XXXXXX")
# The demo's digest cache and content store live and die with it.
export XDG_CACHE_HOME="$WORK/cache"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # Give it a moment to shut down cleanly, then insist.
    for _ in $(seq 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- start the registry -----------------------------------------------------
step "Starting vessel-registry on a free loopback port (storage in a temp dir)"
STORE="$WORK/registry"
mkdir -p "$STORE"
"$VESSEL_REGISTRY" --addr 127.0.0.1:0 --root "$STORE" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!

ADDR=""
for _ in $(seq 150); do # up to 15 s
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$WORK/serve.err" >&2
    fail "vessel-registry exited before it was ready"
  fi
  line=$(grep -m1 -E '^listening on 127\.0\.0\.1:[0-9]+$' "$WORK/serve.out" || true)
  if [[ -n "$line" ]]; then
    ADDR=${line#listening on }
    break
  fi
  sleep 0.1
done
[[ -n "$ADDR" ]] || { cat "$WORK/serve.err" >&2; fail "vessel-registry did not print 'listening on 127.0.0.1:PORT' within 15 s"; }
echo "registry at $ADDR (pid $SERVER_PID)"

REPO="demo/sample"
REF="$ADDR/$REPO:v1"

# --- keys -----------------------------------------------------------------------
# The demo's password; real pipelines keep it in a secret store.
export VESSEL_PASSWORD=demo-password
step "Making a signing key pair (cosign's formats) and a second, untrusted one"
"$VESSEL" keygen --output-key-prefix "$WORK/release" || fail "vessel keygen exited with $?"
"$VESSEL" keygen --output-key-prefix "$WORK/stranger" >/dev/null || fail "vessel keygen exited with $?"

# --- push and sign ---------------------------------------------------------------
step "Pushing $SRC to $REF and signing it (--key)"
find "$SRC" -type f | sed "s|^$SRC/|  |" | sort
PUSH_OUT=$("$VESSEL" push "$SRC" "$REF" --key "$WORK/release.key") || fail "vessel push exited with $?"
DIGEST=$(grep -oE 'sha256:[0-9a-f]{64}' <<<"$PUSH_OUT" | head -n1 || true)
[[ -n "$DIGEST" ]] || fail "vessel push printed no manifest digest (stdout: $PUSH_OUT)"
echo "manifest digest: $DIGEST"

# --- inspect ------------------------------------------------------------------
step "Inspecting $REF (the signature is listed as a referrer)"
"$VESSEL" inspect "$REF" || fail "vessel inspect exited with $?"

# --- verify -------------------------------------------------------------------
step "Verifying $REF against release.pub"
"$VESSEL" verify "$REF" --key "$WORK/release.pub" || fail "vessel verify exited with $?"

# --- pull verified and compare --------------------------------------------------
step "Pulling $REF verified (--key release.pub) into a fresh directory"
GOOD="$WORK/pulled"
"$VESSEL" pull "$REF" "$GOOD" --key "$WORK/release.pub" --signature "$GOOD/model.sig" || fail "vessel pull exited with $?"
diff -r -x model.sig "$SRC" "$GOOD" || fail "pulled files differ from $SRC"
echo "identical: diff -r $SRC <pulled> is empty (besides model.sig, the OpenSSF model signature)"

step "Verifying the pulled directory on its own, no registry: OpenSSF Model Signing"
"$VESSEL" verify-dir "$GOOD" --signature "$GOOD/model.sig" --key "$WORK/release.pub" || fail "vessel verify-dir exited with $?"

# --- untrusted signer and no trust -----------------------------------------------
step "Pulling with a key that did not sign it: vessel must refuse with exit code 3"
set +e
"$VESSEL" pull "$REF" "$WORK/untrusted" --key "$WORK/stranger.pub" -q
RC=$?
set -e
echo "exit code: $RC"
[[ $RC -eq 3 ]] || fail "pull with an untrusted key exited with $RC, want 3"
[[ ! -e "$WORK/untrusted" ]] || fail "refused pull wrote its destination"

step "Pulling with no trust configured: refused (default deny)"
set +e
"$VESSEL" pull "$REF" "$WORK/notrust" -q
RC=$?
set -e
echo "exit code: $RC"
[[ $RC -eq 2 ]] || fail "pull without trust exited with $RC, want 2"

# --- tamper with the weights blob in the registry's storage -------------------
# A raw ModelPack layer's digest is the sha256 of the file itself, so the
# weights blob is named after the source file's hash. inspect's JSON must
# mention that digest too; we check it without depending on its exact shape.
step "Tampering with the model.safetensors blob in the registry's storage"
WEIGHTS_HEX=$(sha256sum "$SRC/model.safetensors" | cut -d' ' -f1)
INSPECT_JSON=$("$VESSEL" inspect --output json "$REF") || fail "vessel inspect --output json exited with $?"
grep -q "sha256:$WEIGHTS_HEX" <<<"$INSPECT_JSON" ||
  fail "inspect --output json does not list the model.safetensors layer sha256:$WEIGHTS_HEX"

BLOB="$STORE/$REPO/blobs/sha256/$WEIGHTS_HEX"
if [[ ! -f "$BLOB" ]]; then
  # Storage layout differs from the contract: look for the blob anywhere.
  BLOB=$(find "$STORE" -type f -name "$WEIGHTS_HEX" | head -n1)
fi
[[ -n "$BLOB" && -f "$BLOB" ]] || fail "blob sha256:$WEIGHTS_HEX not found under $STORE"

# Flip every bit of one byte inside the tensor data; the size stays the same,
# so only the digest check can catch it.
OFFSET=4096
OLD=$(od -An -tx1 -j "$OFFSET" -N1 "$BLOB" | tr -d ' \n')
NEW=$(printf '%02x' $((0x$OLD ^ 0xff)))
chmod u+w "$BLOB"
printf "\\x$NEW" | dd of="$BLOB" bs=1 seek="$OFFSET" conv=notrunc status=none
[[ $(sha256sum "$BLOB" | cut -d' ' -f1) != "$WEIGHTS_HEX" ]] || fail "could not modify $BLOB"
echo "flipped byte $OFFSET of ${BLOB#$WORK/} (0x$OLD -> 0x$NEW)"

# --- pull again: must be refused --------------------------------------------
step "Pulling again into a fresh directory, without the content store: vessel must refuse with exit code 3"
# The first pull left every verified blob in the content store, and a pull
# with it would take them from there (by digest, re-hashed) and never see
# the tampered copy; --no-cache makes this pull fetch from the registry.
# The destination gets its own parent so we can also see that no staging
# directory is left behind.
PARENT="$WORK/tampered"
mkdir -p "$PARENT"
BAD="$PARENT/model"
set +e
"$VESSEL" pull "$REF" "$BAD" --key "$WORK/release.pub" --no-cache
RC=$?
set -e
echo "exit code: $RC"
[[ $RC -ne 0 ]] || fail "pull of a tampered blob succeeded"
[[ $RC -eq 3 ]] || fail "pull of a tampered blob exited with $RC, want 3 (verification failed)"
[[ ! -e "$BAD" ]] || fail "destination $BAD exists after a refused pull"
LEFT=$(ls -A "$PARENT")
[[ -z "$LEFT" ]] || fail "refused pull left files beside the destination: $LEFT"
echo "refused, and the destination does not exist (nothing left beside it either)"

step "Pulling with the content store: the blobs verified before are used, the tampered copy is never fetched"
"$VESSEL" pull "$REF" "$WORK/from-store" --key "$WORK/release.pub" -q || fail "pull from the content store exited with $?"
diff -r "$SRC" "$WORK/from-store" || fail "files pulled from the content store differ from $SRC"
echo "identical to $SRC"

step "Demo passed"
