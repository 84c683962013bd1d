#!/usr/bin/env bash
# System packages the test suite needs on Debian/Ubuntu: a C compiler (the firmware
# codec's C unit test) and the runtime libraries Qt loads even offscreen.
set -euo pipefail
pkgs=(gcc libc6-dev libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: please install: ${missing[*]}" >&2
  exit 0
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
