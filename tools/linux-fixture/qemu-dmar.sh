#!/bin/sh
# Boots the fixture in real QEMU (qemu-system-i386, q35, `-device intel-iommu`
# plus any extra properties given as $1, e.g. ",x-scalable-mode=on") and prints
# the kernel's DMAR lines: what Linux reads from QEMU's intel-iommu, to compare
# with the model's qemu-* profiles booted in v86 (`viommu linux --mode qemu-7.2`;
# host/tests/v86-linux-second-stage.test.ts holds the lines recorded with QEMU 7.2).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
qemu-system-i386 -machine q35 -m 256 -nographic -no-reboot \
  -device "intel-iommu${1:-}" -kernel "$HERE/bzImage" -initrd "$HERE/initramfs.cpio.gz" \
  -append "console=ttyS0 intel_iommu=on" </dev/null >"$out" 2>/dev/null &
pid=$!
for _ in $(seq 180); do
  grep -q -e 'Using Queued invalidation' -e 'Register based invalidation' "$out" && break
  sleep 1
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
tr -d '\r' <"$out" | sed -n 's/^\[ *[0-9.]*\] //p' | grep -E '^DMAR: (Host address width|dmar0: )'
rm -f "$out"
