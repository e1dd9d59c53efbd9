# Cross-compiling nsengine for 64-bit ARM (Raspberry Pi 4/5, Jetson) with Debian's cross compiler:
#   apt-get install crossbuild-essential-arm64 libopenblas-dev:arm64 libssl-dev:arm64 \
#       libzstd-dev:arm64 libturbojpeg0-dev:arm64 libgtest-dev:arm64   (after dpkg --add-architecture arm64)
#   cmake -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Header-only dependencies (asio, nlohmann-json, cxxopts, stb) come from the host's /usr/include.
# scripts/test-arm64.sh builds with this and runs the tests under qemu-aarch64-static.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/qemu-aarch64.sh)

# Target libraries from the arm64 multiarch folders; programs (pkg-config, python) from the host.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(NSE_WITH_CUDA OFF CACHE BOOL "no CUDA when cross-compiling for aarch64")
