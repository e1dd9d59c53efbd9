#include "tools/cpu_quota.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace nse {

namespace {

constexpr const char* kController = "/sys/fs/cgroup/cpu";

void write_file(const std::string& path, const std::string& value) {
    std::ofstream f(path);
    f << value;
    f.flush();
    NSE_CHECK(f.good(), ErrorCode::Io, "cannot write ", path, " (", std::strerror(errno), ")");
}

long thread_id() { return long(syscall(SYS_gettid)); }

}  // namespace

ThreadCpuQuota::ThreadCpuQuota(const std::string& name, double fraction) {
    NSE_CHECK(fraction >= kMinFraction && fraction <= 1, ErrorCode::InvalidArgument,
              "a CPU quota must be ", kMinFraction, "..1 of a CPU, got ", fraction);
    struct stat sb;
    NSE_CHECK(stat((std::string(kController) + "/tasks").c_str(), &sb) == 0, ErrorCode::Io,
              "a CPU quota per edge needs the cgroup v1 cpu controller at ", kController,
              " (cgroup v2 is not supported yet)");
    dir_ = std::string(kController) + "/" + name;
    NSE_CHECK(mkdir(dir_.c_str(), 0755) == 0 || errno == EEXIST, ErrorCode::Io, "cannot create ",
              dir_, " (", std::strerror(errno), "; run as root)");
    // 1 ms of CPU (the kernel's least quota) per period of 1 ms / fraction: throttled for at
    // most the rest of that period, as tools/netbench.sh's edge. Over a 100 ms period a
    // 1/32-CPU edge stalled 97 ms mid-send, and its link model took those stalls for a slow
    // link (docs/serving.md).
    const long period_us = std::lround(1000 / fraction);
    write_file(dir_ + "/cpu.cfs_period_us", std::to_string(period_us));
    write_file(dir_ + "/cpu.cfs_quota_us", std::to_string(std::lround(fraction * period_us)));
}

void ThreadCpuQuota::enter() { write_file(dir_ + "/tasks", std::to_string(thread_id())); }

ThreadCpuQuota::~ThreadCpuQuota() { rmdir(dir_.c_str()); }

}  // namespace nse
