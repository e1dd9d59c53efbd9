// Helpers for tests that build model files in a temporary folder.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "base/error.h"
#include "base/tensor.h"
#include "base/thread_pool.h"
#include "weights/safetensors.h"

namespace nse::test {

// The thread pool the kernel tests of this thread pass to kernels: use_threads(n) switches to a
// pool of n threads (made once per count and kept), test_pool() is the current one (at first
// one of the machine's thread count).
// NSE_TEST_MAX_THREADS caps the count: scripts/test-arm64.sh sets 1, as the user-mode emulator
// available here (qemu 7.2) hangs when a program starts a thread.
inline std::shared_ptr<ThreadPool> pool_of(int threads) {
    if (const char* cap = std::getenv("NSE_TEST_MAX_THREADS"); cap && std::atoi(cap) >= 1)
        threads = std::min(threads, std::atoi(cap));
    static std::map<int, std::shared_ptr<ThreadPool>> pools;
    auto& p = pools[threads];
    if (!p) p = std::make_shared<ThreadPool>(threads);
    return p;
}
inline std::shared_ptr<ThreadPool>& current_test_pool() {
    static std::shared_ptr<ThreadPool> p = pool_of(hardware_threads());
    return p;
}
inline void use_threads(int threads) { current_test_pool() = pool_of(threads); }
inline ThreadPool& test_pool() { return *current_test_pool(); }

// A folder of this test process's own in the test temp folder, removed with what it holds when
// the process ends normally (a test that crashes leaves its files there for a look). Every test
// of the suite is a process of its own under ctest: files named by the test alone, without the
// folder, had piled up, two thousand in /tmp after a few runs.
class TempFolder {
  public:
    TempFolder() : owner_(getpid()), path_(::testing::TempDir() + "nse_" + std::to_string(owner_)) {
        std::filesystem::create_directories(path_);
    }
    ~TempFolder() {
        std::error_code ec;
        if (getpid() == owner_) std::filesystem::remove_all(path_, ec);
    }
    TempFolder(const TempFolder&) = delete;
    TempFolder& operator=(const TempFolder&) = delete;
    const std::string& path() const { return path_; }

  private:
    pid_t owner_;
    std::string path_;
};

inline std::string temp_path(const std::string& name) {
    static TempFolder folder;
    return folder.path() + "/" + name;
}

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline Tensor filled(const Shape& shape, float start = 0.f, float step = 0.01f) {
    Tensor t = Tensor::zeros(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = start + step * float(i % 97);
    return t;
}

// A file image: u64 header length, the given header text, then `body`.
inline std::string raw_file(const std::string& header, const std::string& body) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
    return out + header + body;
}

// Expects `fn` to throw nse::Error whose message contains `needle`.
template <typename Fn>
void expect_error(Fn fn, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "message: " << e.what() << "\nexpected to contain: " << needle;
    }
}

}  // namespace nse::test
