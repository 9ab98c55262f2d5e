#!/usr/bin/env bash
# What a newcomer does, from an empty folder: install falx from this workspace (offline: the
# dependencies are the workspace's, already fetched), start `falx mock`, run three endpoints of
# different categories (text-to-image, image-to-video with a local file, a stream), and check
# the downloaded files and the progress lines. Prints the install time and the binary's size.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"

start=$(date +%s)
# By default its own target folder and a release build, as a newcomer's install has: the time is
# a first build's. NEWCOMER_DEBUG=1 installs a debug build into the workspace's target folder
# instead, reusing what `cargo test --workspace` built (CI's budget).
if [ "${NEWCOMER_DEBUG:-0}" = 1 ]; then
  cargo install --quiet --offline --locked --debug --path "$repo/fal-cli" --root "$work/root" \
    --target-dir "$repo/target"
else
  cargo install --quiet --offline --locked --path "$repo/fal-cli" --root "$work/root" \
    --target-dir "${NEWCOMER_TARGET_DIR:-$work/target}"
fi
echo "newcomer: falx installed in $(( $(date +%s) - start ))s, $(stat -c %s "$work/root/bin/falx") bytes"
export PATH="$work/root/bin:$PATH"

falx mock --stream-interval-ms 5 >mock.out 2>&1 &
mock_pid=$!
for _ in $(seq 1 100); do grep -q '^# fal-mock ready' mock.out 2>/dev/null && break; sleep 0.2; done
grep -q '^# fal-mock ready' mock.out || { echo "falx mock did not start" >&2; cat mock.out >&2; exit 1; }
head -1 mock.out | grep -q '^export FAL_KEY=' || { echo "the export lines are not first" >&2; exit 1; }
eval "$(grep '^export ' mock.out)"

check() { grep -q -- "$1" "$2" || { echo "newcomer: no \`$1\` in $2:" >&2; cat "$2" >&2; exit 1; }; }

falx run fal-ai/flux/dev --prompt "a cat" --num-images 2 -o images >t2i.out 2>t2i.err
check "submitted: request" t2i.err; check "in progress" t2i.err; check "completed" t2i.err
[ "$(ls images | wc -l)" = 2 ] || { echo "expected 2 images" >&2; ls -la images >&2; exit 1; }

printf '\x89PNG\r\n\x1a\n a cat' >cat.png
falx run fal-ai/pika/v2.2/image-to-video --prompt "the cat turns" --image_url cat.png -o video >i2v.out 2>i2v.err
check "uploaded cat.png -> http://" i2v.err; check "saved video/" i2v.out
[ "$(head -c 8 video/*.mp4 | tail -c 4)" = ftyp ] || { echo "the video is not an MP4" >&2; exit 1; }

falx run fal-ai/flux-krea-lora/stream --prompt "a cat" --stream -o streamed >stream.out 2>stream.err
check "event 1: " stream.err; check "stream ended after" stream.err
[ "$(ls streamed | wc -l)" -ge 1 ] || { echo "the stream's output was not downloaded" >&2; exit 1; }

if falx run fal-ai/flux/dev --num-images 0 2>bad.err; then echo "an invalid input was sent" >&2; exit 1; fi
check "prompt: Field required" bad.err
echo "newcomer: falx mock + three runs (text-to-image, image-to-video with a local file, a stream): ok"
