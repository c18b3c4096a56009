#!/usr/bin/env bash
# Builds the Linux fixture the v86 integration boots (tools/linux-fixture/):
#   bzImage            i686 Linux 6.1 from Debian's linux-source-6.1, tinyconfig plus
#                      kernel.config (ACPI, PCI/MSI, INTEL_IOMMU + debugfs, ata_piix +
#                      BMDMA, serial console, gzip initrd), with clflush.patch applied
#   initramfs.cpio.gz  Debian's static i386 busybox, rootfs/init and rootfs/bin/vg
#   bzImage.config     the resolved kernel configuration (for reading, not used)
#   MANIFEST           sources, versions and sha256 of the outputs
# Tests and CI never run this: the outputs are committed. Rebuild after changing
# kernel.config, clflush.patch or rootfs/ (about 20-40 min on 2 cores for the kernel):
#   nice -n 10 tools/linux-fixture/build.sh [all|kernel|initramfs]
# Needs gcc (with -m32), make, flex, bison, bc, cpio, xz, gzip, perl; Debian packages
# linux-source-6.1 and busybox-static:i386. Set WORK to choose the build directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC_TAR=${LINUX_SOURCE_TAR:-/usr/src/linux-source-6.1.tar.xz}
BUSYBOX=${BUSYBOX:-/bin/busybox}
WORK=${WORK:-${TMPDIR:-/tmp}/viommu-linux-fixture}
JOBS=${JOBS:-$(nproc)}
WHAT=${1:-all}
SRC=$WORK/linux
# Reproducible builds: no host name, user or date in the image.
export KBUILD_BUILD_TIMESTAMP="2024-01-01 00:00:00 UTC" KBUILD_BUILD_USER=viommu \
  KBUILD_BUILD_HOST=fixture KBUILD_BUILD_VERSION=1 SOURCE_DATE_EPOCH=1704067200
KMAKE=(make -C "$SRC" ARCH=i386 -j"$JOBS")

die() { echo "build.sh: $*" >&2; exit 1; }

prepare_source() {
  [ -f "$SRC_TAR" ] || die "no kernel source at $SRC_TAR (apt-get install linux-source-6.1)"
  if [ ! -f "$SRC/.viommu-extracted" ]; then
    rm -rf "$SRC" && mkdir -p "$SRC"
    echo "build.sh: extracting $SRC_TAR" >&2
    tar -xf "$SRC_TAR" -C "$SRC" --strip-components=1
    patch -d "$SRC" -p1 < "$HERE/clflush.patch"
    touch "$SRC/.viommu-extracted"
  fi
}

# tinyconfig, then the fragment; every symbol the fragment sets must survive.
configure_kernel() {
  "${KMAKE[@]}" tinyconfig >/dev/null
  "$SRC/scripts/kconfig/merge_config.sh" -m -O "$SRC" "$SRC/.config" "$HERE/kernel.config" >/dev/null
  "${KMAKE[@]}" olddefconfig >/dev/null
  local missing=0 line
  while IFS= read -r line; do
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    grep -qx "$line" "$SRC/.config" || { echo "build.sh: not in .config: $line" >&2; missing=1; }
  done < "$HERE/kernel.config"
  [ $missing = 0 ] || die "kernel.config did not apply (dependencies missing?)"
}

build_kernel() {
  prepare_source
  configure_kernel
  "${KMAKE[@]}" bzImage
  cp "$SRC/arch/x86/boot/bzImage" "$HERE/bzImage"
  cp "$SRC/.config" "$HERE/bzImage.config"
}

# The initramfs is written by the kernel's own gen_init_cpio, so /dev/console
# exists without root. gen_init_cpio stores a file's own mtime, so the files go
# in as copies dated SOURCE_DATE_EPOCH: the archive is the same on any checkout.
build_initramfs() {
  prepare_source
  od -An -tx1 -N5 "$BUSYBOX" | grep -q '7f 45 4c 46 01' || die "$BUSYBOX is not a 32-bit ELF (apt-get install busybox-static:i386)"
  local files="$WORK/rootfs-files"
  rm -rf "$files" && mkdir -p "$files"
  cp "$BUSYBOX" "$files/busybox" && cp "$HERE/rootfs/init" "$files/init" && cp "$HERE/rootfs/bin/vg" "$files/vg"
  touch -d "@$SOURCE_DATE_EPOCH" "$files"/*
  gcc -O2 -o "$WORK/gen_init_cpio" "$SRC/usr/gen_init_cpio.c"
  cat > "$WORK/initramfs.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /bin 0755 0 0
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 01777 0 0
file /bin/busybox $files/busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $files/init 0755 0 0
file /bin/vg $files/vg 0755 0 0
LIST
  "$WORK/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$WORK/initramfs.list" | gzip -9 -n > "$HERE/initramfs.cpio.gz"
}

write_manifest() {
  {
    echo "linux: $(basename "$SRC_TAR") ($(make -s -C "$SRC" kernelversion 2>/dev/null)), tinyconfig + kernel.config + clflush.patch"
    echo "busybox: $("$BUSYBOX" 2>&1 | head -1)"
    echo "gcc: $(gcc --version | head -1)"
    (cd "$HERE" && sha256sum bzImage initramfs.cpio.gz)
  } > "$HERE/MANIFEST"
}

case $WHAT in
  all) build_kernel; build_initramfs ;;
  kernel) build_kernel ;;
  initramfs) build_initramfs ;;
  *) die "usage: build.sh [all|kernel|initramfs]" ;;
esac
write_manifest
ls -l "$HERE/bzImage" "$HERE/initramfs.cpio.gz" 2>/dev/null
