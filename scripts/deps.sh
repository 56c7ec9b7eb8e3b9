#!/usr/bin/env bash
# Installs the Debian packages keel needs to build, test and run its examples.
# Idempotent and quiet when everything is there already.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libblis-serial-dev libcriterion-dev zlib1g-dev
      libpng-dev libjpeg62-turbo-dev dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
