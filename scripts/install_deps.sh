#!/usr/bin/env bash
# Installs nsengine's build and test dependencies from Debian 12 packages (needs root or sudo).
# Skips apt entirely when everything is already installed.
# --arm64: also the cross toolchain, arm64 libraries and qemu for scripts/test-arm64.sh.
set -euo pipefail
packages=(build-essential cmake pkg-config libopenblas-dev libasio-dev libssl-dev openssl libzstd-dev libturbojpeg0-dev libcxxopts-dev
          python3-onnx python3-prometheus-client python3-skimage
          nlohmann-json3-dev libgtest-dev libstb-dev python3-torch python3-torchvision
          python3-pil python3-numpy iproute2 haproxy)
arm64=0
[ "${1:-}" = "--arm64" ] && arm64=1
if [ "$arm64" = 1 ]; then
    packages+=(crossbuild-essential-arm64 qemu-user-static file libopenblas-dev:arm64 libssl-dev:arm64
              libzstd-dev:arm64 libturbojpeg0-dev:arm64 libgtest-dev:arm64)
fi
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
if [ "$arm64" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
