#!/usr/bin/env bash
# Installs the Debian packages vsr_flow needs to build, test and run. Idempotent: packages
# already installed are left alone, and apt is only called when something is missing.
set -euo pipefail
packages=(
  build-essential cmake ccache clang-format pkg-config
  libtorch-dev libtbb-dev libopencv-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libprotobuf-dev protobuf-compiler libdeflate-dev libpng-dev graphviz
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
