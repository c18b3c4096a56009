#!/bin/sh
# Makes sure SeaBIOS exists for the v86 Linux tests (host/tests/v86-linux-*.test.ts)
# and `viommu linux`: v86's npm package ships no BIOS images. Installs Debian's
# `seabios` package (bios.bin, vgabios-stdvga.bin in /usr/share/seabios) with
# apt-get when they are missing; never downloads firmware any other way.
# Idempotent: does nothing when the files are there. VIOMMU_SEABIOS_DIR names
# another directory holding both files.
set -eu
DIR=${VIOMMU_SEABIOS_DIR:-/usr/share/seabios}
if [ -f "$DIR/bios.bin" ] && [ -f "$DIR/vgabios-stdvga.bin" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-seabios: no $DIR/bios.bin and no apt-get; the v86 Linux tests will be skipped" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
echo "ensure-seabios: installing Debian's seabios package" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends seabios >/dev/null
test -f /usr/share/seabios/bios.bin
