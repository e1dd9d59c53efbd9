#include "tools/cpu_quota.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace nse {

namespace {

constexpr const char* kController = "/sys/fs/cgroup/cpu";
constexpr long kPeriodUs = 100000;

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
    write_file(dir_ + "/cpu.cfs_period_us", std::to_string(kPeriodUs));
    write_file(dir_ + "/cpu.cfs_quota_us", std::to_string(long(fraction * kPeriodUs)));
}

void ThreadCpuQuota::enter() { write_file(dir_ + "/tasks", std::to_string(thread_id())); }

ThreadCpuQuota::~ThreadCpuQuota() { rmdir(dir_.c_str()); }

}  // namespace nse
