// Helpers shared by the nsengine subcommands: common flags, model and input loading with
// messages that tell the user what to do, result formatting, tables.
#pragma once

#include <cxxopts.hpp>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "base/stats.h"
#include "engine/executor.h"
#include "engine/model.h"
#include "net/wire_choice.h"
#include "partition/profile.h"

namespace nse {

// Prints the command's --help and returns true when it was asked for.
bool print_help(const cxxopts::Options& opts, const cxxopts::ParseResult& args);
// --model/-t, --models-dir, --threads (and --json when with_json).
void add_model_options(cxxopts::Options& opts, bool with_json = true, bool with_threads = true);
// -d/--device cpu|cuda and --tf32.
void add_device_options(cxxopts::Options& opts);
// Reads -d/--device and --tf32; throws Error(Unsupported) at once when the device cannot be used
// (CUDA not built in, no GPU), before any long work starts.
DeviceOptions device_options(const cxxopts::ParseResult& args);
// opts.parse, refusing arguments it did not take (a stray word is a mistake, not something to
// ignore): Error(InvalidArgument) naming the first.
cxxopts::ParseResult parse_args(cxxopts::Options& opts, int argc, char** argv);

// A thread pool of --threads threads (default: all hardware threads); throws
// Error(InvalidArgument) on a count outside 1..1024.
std::shared_ptr<ThreadPool> thread_pool_arg(const cxxopts::ParseResult& args);
// Path of the model named by --model in --models-dir.
std::string model_path_arg(const cxxopts::ParseResult& args);
// Loads the model named by --model from --models-dir, with a hint on how to create it.
std::shared_ptr<const Model> load_model_arg(const cxxopts::ParseResult& args);
// <name>.ref.safetensors beside <name>.safetensors: the converter's input and PyTorch's output.
std::string reference_path(const std::string& model_file);
// "ref" (the reference input stored beside the model file as <name>.ref.safetensors), "random"
// (seeded normal) or an image file (JPEG/PNG/BMP, preprocessed as the model's metadata says).
Tensor make_input(const Model& model, const std::string& model_file, const std::string& spec);
// The model's input at batch 1 filled from a seeded normal distribution (--input random: seed 1).
Tensor random_input(const Model& model, uint32_t seed);
// `image` (batch 1) repeated `batch` times along the batch axis.
Tensor repeat_batch(const Tensor& image, int batch);
// --batch N: images per run (1..4096; throws Error(InvalidArgument) otherwise).
int batch_arg(const cxxopts::ParseResult& args);

struct Prediction {
    int index;
    float probability;
    std::string label;
};
// Softmax over the first row of `logits`, top k classes.
std::vector<Prediction> top_k(const Model& model, const Tensor& logits, int k);

// The profile to use without building one: `path`'s if given (warning where it was fitted for
// other kernels or another thread count), else the one cached for this device and thread count
// if it fits this build; null where one must be built (the reason said on stderr). `who` names
// the command in messages.
std::shared_ptr<const DeviceProfile> existing_profile(const std::string& path,
                                                      const DeviceOptions& device,
                                                      const std::shared_ptr<ThreadPool>& pool,
                                                      const std::string& who);
// Builds this machine's profile with the deployment phase (about 2 min on 2 cores, progress on
// stderr), caches it and returns it. `on_progress(percent)`, if given, is called as it goes and
// may throw to stop it.
std::shared_ptr<const DeviceProfile> build_profile(
    const DeviceOptions& device, const std::shared_ptr<ThreadPool>& pool, const std::string& who,
    const std::function<void(int)>& on_progress = {});
// existing_profile, or else build_profile.
std::shared_ptr<const DeviceProfile> profile_for(const std::string& path,
                                                 const DeviceOptions& device,
                                                 const std::shared_ptr<ThreadPool>& pool,
                                                 const std::string& who);

// --cuts: true for dag (partitions that are not positions are candidates too), false for
// positions; anything else is Error(InvalidArgument).
bool parse_cuts(const std::string& s);
// --queue-toll X for --split auto (SplitController::set_queue_toll): the option, and its value
// (0..100; Error(InvalidArgument) otherwise).
void add_queue_toll_option(cxxopts::Options& opts);
double queue_toll_arg(const cxxopts::ParseResult& args);
// The model's wire calibration: `path`, else <model>.wire.json beside `model_file` if there is
// one (null if not). One made for another file of the model, or a broken one found beside it, is
// ignored with a warning on stderr (a missing or broken `path` is an error).
std::shared_ptr<const net::WireCalibration> load_wire_calibration(const std::string& path,
                                                                  const std::string& model_file,
                                                                  const Model& model, uint64_t hash,
                                                                  const std::string& who);

// Runs `run` at least `min_runs` times and for at least kWarmUpMs: a new process's threads can
// share one core until the scheduler spreads them (2-thread runs at 1-thread speed for the first
// 80 ms; `nsengine bench` of MobileNetV2 after 3 warm-up runs reported 6.3-6.8 ms in 2 of 8
// invocations against 3.9-4.1, its first 11 timed runs at 6.6-7.4 ms).
constexpr double kWarmUpMs = 250;
void warm_up(const std::function<void()>& run, int min_runs);

// Progress of long work on stderr: a bar redrawn in place on a terminal, a line at every tenth
// elsewhere (a log, a pipe).
class Progress {
  public:
    explicit Progress(std::string label);
    ~Progress();  // clears the line
    void update(int done, int total);
    // The same for work in stages: a new bar (or new lines) whenever `stage` changes, labelled
    // "<label>: <stage>".
    void update(const std::string& stage, int done, int total);

  private:
    std::string base_, label_, stage_;
    bool tty_;
    int last_ = -1;
};
std::string fixed(double value, int decimals);
std::string human_bytes(double bytes);

// Prints rows as an aligned text table; columns listed in `right` are right-aligned.
void print_table(std::ostream& os, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right);

}  // namespace nse
