#!/usr/bin/env bash
# Installs the Debian packages keel needs to build, test and run its examples.
# Idempotent and quiet when everything is there already.
# usage: scripts/deps.sh [--bench]
#   --bench  also the PyTorch reference of bench/compare_pytorch.sh: Debian's python3-torch and
#            python3-numpy, importable from /usr/bin/python3 only (not from a pyenv or venv
#            python3 that may come first on PATH). Not needed to build or test keel.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libblis-serial-dev libcriterion-dev zlib1g-dev
      libpng-dev libjpeg62-turbo-dev dataset-fashion-mnist libicu-dev libjansson-dev
      libzip-dev libhdf5-dev)
case ${1:-} in
  "") ;;
  --bench) pkgs+=(python3 python3-numpy python3-torch) ;;
  *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
esac
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
