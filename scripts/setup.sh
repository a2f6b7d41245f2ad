#!/usr/bin/env bash
# Installs the Debian packages vsr_flow needs to build, test and run, and the Python packages
# of the tests (a JSON Schema validator and a YAML parser for tests/validate_configs.py) into
# the project's own venv, .venv-test/ at the repository root (git-ignored), and Debian's
# python3-torch (the checkpoint test loads what vsr_flow writes with torch.load). Idempotent: what
# is already installed is left alone; apt and pip are only called when something is missing.
set -euo pipefail
packages=(
  build-essential cmake ccache clang-format pkg-config
  libtorch-dev libgloo-dev libtbb-dev libopencv-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libprotobuf-dev protobuf-compiler libdeflate-dev libpng-dev graphviz
  python3-venv python3-torch opencv-doc
  clang-14 libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer, ASan, UBSan
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

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv-test"
# jsonschema and PyYAML (config schema tests), tensorboard (its reader of our event files) and
# safetensors (its reader of our exports), onnxruntime (runs our ONNX exports),
# with their own dependencies pinned too: the same versions on every machine.
python_pins=(
  jsonschema==4.26.0 PyYAML==6.0.3
  attrs==26.1.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  typing_extensions==4.16.0
  tensorboard==2.21.0 safetensors==0.8.0 onnxruntime==1.32.0 flatbuffers==25.12.19
  absl-py==2.5.1 grpcio==1.85.3 Markdown==3.11.3 MarkupSafe==3.0.4 numpy==2.4.6 packaging==26.4
  pillow==13.0.0 protobuf==7.36.2 tensorboard-data-server==0.7.2 Werkzeug==3.1.9
)
if "$venv/bin/python" - "${python_pins[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
sys.exit(any(version(name) != pin for name, pin in (p.split("==") for p in sys.argv[1:])))
EOF
then
  echo "setup: test venv present (.venv-test)"
else
  echo "setup: installing jsonschema, PyYAML, tensorboard, safetensors and onnxruntime (pinned) into .venv-test"
  [[ -x $venv/bin/pip ]] || /usr/bin/python3 -m venv --clear "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_pins[@]}"
fi
