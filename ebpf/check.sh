#!/usr/bin/env bash
# CI: the committed ebpf/wardwatch.bpf.o and ebpf/abi_layout.txt must be what
# ebpf/build.sh makes from the current sources.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
"$here/build.sh" "$fresh" >/dev/null
stale=0
for file in wardwatch.bpf.o abi_layout.txt; do
  if ! cmp -s "$fresh/$file" "$here/$file"; then
    echo "ebpf/$file is stale: it differs from what ebpf/build.sh makes of the sources." >&2
    stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "Run ebpf/build.sh and commit the result (reference compiler: $(clang --version | head -1))." >&2
  exit 1
fi
echo "ebpf: committed object and layout match their sources"
