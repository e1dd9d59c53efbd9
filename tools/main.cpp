// nsengine: one binary, one subcommand per job. Each subcommand parses its own flags; errors
// become one line on stderr and a non-zero exit status (1 = failure, 2 = bad usage).
#include <cstdio>
#include <cstring>
#include <cxxopts.hpp>
#include <string>

#include "base/error.h"
#include "kernels/cpu/cpu_features.h"

namespace nse {
int cmd_run(int argc, char** argv);
int cmd_check(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_cloud(int argc, char** argv);
int cmd_edge(int argc, char** argv);
int cmd_load(int argc, char** argv);
int cmd_bench_net(int argc, char** argv);
int cmd_profile(int argc, char** argv);
int cmd_deploy(int argc, char** argv);
int cmd_predict(int argc, char** argv);
int cmd_plan(int argc, char** argv);
int cmd_calibrate(int argc, char** argv);
}  // namespace nse

namespace {

struct Command {
    const char* name;
    int (*fn)(int, char**);
    const char* help;
};

const Command kCommands[] = {
    {"run", nse::cmd_run, "classify an input (reference, random or an image); print top-5"},
    {"check", nse::cmd_check, "compare a converted model with PyTorch's output; check every split"},
    {"info", nse::cmd_info, "print a model's layers (shape, bytes, FLOPs) and its cut points"},
    {"bench", nse::cmd_bench, "measure whole-model latency (median/min over runs)"},
    {"cloud", nse::cmd_cloud, "serve models to edge clients (the suffix of each split)"},
    {"edge", nse::cmd_edge, "run a model split between this device and a cloud"},
    {"load", nse::cmd_load, "many edges at once against a cloud; every answer checked"},
    {"bench-net", nse::cmd_bench_net, "measure tensor transfer speed and per-request overhead"},
    {"profile", nse::cmd_profile, "measure every node's latency and output size"},
    {"deploy", nse::cmd_deploy, "fit this device's latency model (deployment phase)"},
    {"predict", nse::cmd_predict, "predicted vs measured latency per node and model"},
    {"plan", nse::cmd_plan, "chosen split and per-cut costs for given profiles and bandwidths"},
    {"calibrate", nse::cmd_calibrate, "measure each cut's wire encodings: bytes, accuracy vs fp32"},
};

void usage(FILE* out) {
    std::fprintf(
        out,
        "nsengine %s - split CNN inference between an edge device and a cloud server\n\n"
        "usage: nsengine <command> [options]   (nsengine <command> --help for its flags)\n\n"
        "commands:\n",
        NSE_VERSION);
    for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
        !std::strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!std::strcmp(argv[1], "--version")) {
        std::printf("nsengine %s\n", NSE_VERSION);
        return 0;
    }
    for (const auto& c : kCommands) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            nse::cpu_path();  // NSE_CPU is checked before any work
            return c.fn(argc - 1, argv + 1);
        } catch (const cxxopts::exceptions::exception& e) {
            std::fprintf(stderr, "nsengine %s: %s (see nsengine %s --help)\n", c.name, e.what(),
                         c.name);
            return 2;
        } catch (const nse::Error& e) {
            std::fprintf(stderr, "nsengine %s: error: %s\n", c.name, e.what());
            return e.code() == nse::ErrorCode::InvalidArgument ? 2 : 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "nsengine %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "nsengine: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
