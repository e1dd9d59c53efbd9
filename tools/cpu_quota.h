// A CPU quota for one thread: the Linux cgroup cpu controller's CFS bandwidth limit, so that a
// thread of `nsengine load` runs as a device with a fraction of a CPU would (its speed its own,
// not shared with the other emulated edges). Needs the cgroup v1 cpu controller writable (root);
// cgroup v2 is not supported yet.
#pragma once

#include <string>

namespace nse {

class ThreadCpuQuota {
  public:
    // Creates the cgroup `name` with `fraction` of one CPU (0.01..1); throws Error(Io) naming
    // what is missing when the controller cannot be used.
    ThreadCpuQuota(const std::string& name, double fraction);
    // Removes the cgroup; call after the threads that entered it have ended (a cgroup with a
    // live thread stays behind, empty once it ends).
    ~ThreadCpuQuota();
    ThreadCpuQuota(const ThreadCpuQuota&) = delete;
    ThreadCpuQuota& operator=(const ThreadCpuQuota&) = delete;

    // Puts the calling thread under the quota.
    void enter();

    static constexpr double kMinFraction = 0.01;  // 1 ms (the least quota) of a 100 ms period

  private:
    std::string dir_;
};

}  // namespace nse
