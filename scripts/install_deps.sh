#!/usr/bin/env bash
# Installs nsengine's build and test dependencies from Debian 12 packages (needs root or sudo).
# Skips apt entirely when everything is already installed.
set -euo pipefail
packages=(build-essential cmake pkg-config libopenblas-dev libasio-dev libssl-dev openssl libzstd-dev libcxxopts-dev
          python3-onnx python3-prometheus-client python3-skimage
          nlohmann-json3-dev libgtest-dev libstb-dev python3-torch python3-torchvision
          python3-pil python3-numpy iproute2 haproxy)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install_deps: all packages present"
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
