#!/usr/bin/env bash
# Installs LibTorch 2.15 with CUDA, as pip's torch==2.15.0 wheel carries it, into the project's
# own venv .venv-torch/ (git-ignored), and prints the folder to give CMake as CMAKE_PREFIX_PATH:
#
#   cmake -S . -B build-torch2 -DCMAKE_PREFIX_PATH="$(scripts/setup-libtorch2.sh)"
#
# Idempotent: pip runs only when that torch is missing. The wheel is large (~5 GB installed with
# its CUDA libraries); pip's cache keeps a second install off the network.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv-torch"
version=2.15.0
installed() {
  "$venv/bin/python" - "$version" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
sys.exit(version("torch").split("+")[0] != sys.argv[1])
PY
}
if ! installed; then
  echo "setup-libtorch2: installing torch==$version into .venv-torch" >&2
  [[ -x $venv/bin/pip ]] || /usr/bin/python3 -m venv --clear "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$version" >&2
fi
# The package folder itself (not torch.utils.cmake_prefix_path, share/cmake): CMake then finds
# torch/lib/libtorch.so before a system LibTorch such as Debian's.
"$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null
