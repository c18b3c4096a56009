#!/bin/sh
# Makes sure a system Chromium exists for the playground's end-to-end test
# (playground/tests/playground.test.ts). Installs Debian's `chromium` package
# with apt-get when no binary is on PATH; never downloads a browser any other
# way. Idempotent: does nothing when chromium is already there.
set -eu
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no chromium and no apt-get; the playground e2e test will be skipped" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
echo "ensure-chromium: installing Debian's chromium package" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium
