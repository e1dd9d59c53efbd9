// Helpers of the nsengine subcommands that are not about models or images.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tools/cli_util.h"

namespace nse::test {

TEST(CliUtil, WarmUpRunsItsCountAndFillsItsTime) {
    using Clock = std::chrono::steady_clock;
    int runs = 0;
    auto t0 = Clock::now();
    warm_up([&] { ++runs; }, 0);  // instant runs: as many as fill kWarmUpMs
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    EXPECT_GE(ms, kWarmUpMs);
    EXPECT_GT(runs, 1);
    // Slow runs: the count asked for, even past the time.
    runs = 0;
    warm_up(
        [&] {
            ++runs;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        },
        4);
    EXPECT_EQ(runs, 4);
    // Runs as long as the time: one, then stop.
    runs = 0;
    warm_up(
        [&] {
            ++runs;
            std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(kWarmUpMs));
        },
        1);
    EXPECT_EQ(runs, 1);
}

}  // namespace nse::test
