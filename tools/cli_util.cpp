#include "tools/cli_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <random>
#include <sstream>

#include "base/error.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"
#include "lab/deploy.h"
#include "net/protocol.h"
#include "net/wire_choice.h"
#include "partition/split_controller.h"
#include "tools/image.h"
#include "weights/safetensors.h"

namespace nse {

bool print_help(const cxxopts::Options& opts, const cxxopts::ParseResult& args) {
    if (!args.count("help")) return false;
    std::printf("%s\n", opts.help().c_str());
    return true;
}

void add_model_options(cxxopts::Options& opts, bool with_json, bool with_threads) {
    opts.add_options()("t,model",
                       "model name (any converted into --models-dir: mobilenet_v2, resnet50, "
                       "efficientnet_b0, ...; aliases le_net, alex_net, vgg_net, mobile_net, "
                       "mobilenet) or a .safetensors path",
                       cxxopts::value<std::string>()->default_value("mobilenet_v2"))(
        "models-dir", "folder holding <model>.safetensors",
        cxxopts::value<std::string>()->default_value("models"));
    if (with_threads)
        opts.add_options()(
            "threads", "threads that run the kernels, OpenBLAS calls included (default: all cores)",
            cxxopts::value<int>());
    if (with_json) opts.add_options()("json", "print one JSON object instead of tables");
}

void add_device_options(cxxopts::Options& opts) {
    opts.add_options()("d,device", "where the kernels run: cpu or cuda",
                       cxxopts::value<std::string>()->default_value("cpu"))(
        "tf32", "cuda: allow TF32 tensor cores in convolutions and GEMMs (faster, ~1e-3 error)");
}

DeviceOptions device_options(const cxxopts::ParseResult& args) {
    DeviceOptions d;
    d.device = parse_device(args["device"].as<std::string>());
    d.tf32 = args.count("tf32") > 0;
    NSE_CHECK(!d.tf32 || d.device == Device::Cuda, ErrorCode::InvalidArgument,
              "--tf32 applies to --device cuda only");
    check_device_available(d);
    return d;
}

cxxopts::ParseResult parse_args(cxxopts::Options& opts, int argc, char** argv) {
    cxxopts::ParseResult args = opts.parse(argc, argv);
    NSE_CHECK(args.unmatched().empty(), ErrorCode::InvalidArgument, "unexpected argument '",
              args.unmatched().front(), "' (options start with --; see --help)");
    return args;
}

std::shared_ptr<ThreadPool> thread_pool_arg(const cxxopts::ParseResult& args) {
    const int threads = args.count("threads") ? args["threads"].as<int>() : hardware_threads();
    return std::make_shared<ThreadPool>(checked_thread_count(threads));
}

std::string model_path_arg(const cxxopts::ParseResult& args) {
    return model_path(args["models-dir"].as<std::string>(), args["model"].as<std::string>());
}

std::shared_ptr<const Model> load_model_arg(const cxxopts::ParseResult& args) {
    const std::string dir = args["models-dir"].as<std::string>();
    const std::string name = args["model"].as<std::string>();
    const std::string path = model_path(dir, name);
    struct stat sb;
    if (stat(path.c_str(), &sb) != 0) {
        NSE_CHECK(path != name, ErrorCode::Io, "model file ", path, " not found");
        throw Error(ErrorCode::Io, detail::concat("model file ", path,
                                                  " not found; create it with: /usr/bin/python3 "
                                                  "tools/convert_torchvision.py ",
                                                  canonical_model_name(name), " --out ", dir));
    }
    return Model::load(path);
}

std::string reference_path(const std::string& model_file) {
    std::string path = model_file;
    const std::string ext = ".safetensors";
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
        path.resize(path.size() - ext.size());
    return path + ".ref.safetensors";
}

Tensor random_input(const Model& model, uint32_t seed) {
    Tensor t = Tensor::zeros(model.graph().input_shape);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
    return t;
}

Tensor repeat_batch(const Tensor& image, int batch) {
    if (batch == 1) return image;
    Shape s = image.shape();
    s[0] = batch;
    Tensor many = Tensor::zeros(s);
    for (int i = 0; i < batch; ++i)
        std::memcpy(many.data() + i * image.numel(), image.data(), image.bytes());
    return many;
}

int batch_arg(const cxxopts::ParseResult& args) {
    const int batch = args["batch"].as<int>();
    NSE_CHECK(batch >= 1 && batch <= 4096, ErrorCode::InvalidArgument, "--batch must be 1..4096");
    return batch;
}

Tensor make_input(const Model& model, const std::string& model_file, const std::string& spec) {
    const Shape& shape = model.graph().input_shape;
    if (spec == "random") return random_input(model, 1);
    if (spec == "ref") {
        const std::string path = reference_path(model_file);
        struct stat sb;
        NSE_CHECK(stat(path.c_str(), &sb) == 0, ErrorCode::Io,
                  "--input ref: no reference input beside the model (", path,
                  " is missing); use --input random or an image file");
        SafeTensors ref = read_safetensors(path);
        auto it = ref.tensors.find("input");
        NSE_CHECK(it != ref.tensors.end(), ErrorCode::InvalidModel, path,
                  ": no tensor named 'input'");
        NSE_CHECK(it->second.shape() == shape, ErrorCode::InvalidModel, path, ": input shape ",
                  shape_str(it->second.shape()), " does not match the model's ", shape_str(shape));
        return it->second.clone();
    }
    Preprocess prep;
    auto meta = model.metadata().find("nsengine.preprocess");
    if (meta != model.metadata().end()) prep = Preprocess::from_json(meta->second);
    Tensor t = preprocess_image(load_image(spec), prep);
    NSE_CHECK(t.shape() == shape, ErrorCode::InvalidArgument, "preprocessed image has shape ",
              shape_str(t.shape()), " but the model takes ", shape_str(shape));
    return t;
}

std::vector<Prediction> top_k(const Model& model, const Tensor& logits, int k) {
    const int64_t n = logits.numel() / std::max<int64_t>(logits.dim(0), 1);
    const float* x = logits.data();
    const float mx = *std::max_element(x, x + n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
    std::vector<int> order(n);
    for (int64_t i = 0; i < n; ++i) order[i] = int(i);
    k = int(std::min<int64_t>(k, n));
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) { return x[a] > x[b]; });
    std::vector<Prediction> out;
    for (int i = 0; i < k; ++i) {
        const int c = order[i];
        const auto& classes = model.classes();
        out.push_back({c, float(std::exp(double(x[c]) - mx) / sum),
                       c < int(classes.size()) ? classes[c] : std::to_string(c)});
    }
    return out;
}

Progress::Progress(std::string label)
    : base_(label), label_(std::move(label)), tty_(isatty(STDERR_FILENO)) {}

void Progress::update(const std::string& stage, int done, int total) {
    if (stage != stage_) {
        if (tty_ && last_ >= 0) std::fprintf(stderr, "\n");  // keep the finished stage's bar
        stage_ = stage;
        label_ = base_ + ": " + stage;
        last_ = -1;
    }
    update(done, total);
}

Progress::~Progress() {
    if (tty_ && last_ >= 0) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(int done, int total) {
    if (total <= 0) return;
    if (!tty_) {
        // Into a log or a pipe: a plain line at every tenth, so whoever waits sees it move.
        const int tenth = int(int64_t(10) * done / total);
        if (tenth == last_) return;
        last_ = tenth;
        std::fprintf(stderr, "%s: %d%% (%d/%d)\n", label_.c_str(), tenth * 10, done, total);
        std::fflush(stderr);
        return;
    }
    const int width = 30, filled = int(int64_t(width) * done / total);
    if (filled == last_ && done != total) return;
    last_ = filled;
    std::fprintf(stderr, "\r%s [%s%s] %d/%d", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), done, total);
    std::fflush(stderr);
}

namespace {
// A profile from before the wire costs were part of one gets them measured now (0.1 s).
std::shared_ptr<DeviceProfile> with_wire_costs(std::shared_ptr<DeviceProfile> p) {
    if (p->wire.empty()) p->wire = net::measure_wire_costs();
    return p;
}
}  // namespace

namespace {
// A CPU profile fitted under another kernel path is refused (its predictions would not hold).
void check_cpu_path(const DeviceProfile& p, const std::string& path) {
    if (p.device != "cpu" || p.cpu_path.empty()) return;
    NSE_CHECK(p.cpu_path == cpu_path_name(cpu_path()), ErrorCode::InvalidArgument, path,
              " was fitted for the ", p.cpu_path, " kernels, but this process runs the ",
              cpu_path_name(cpu_path()),
              " ones: its predictions would not hold (run nsengine deploy under this path, or "
              "set NSE_CPU=",
              p.cpu_path, ")");
}
}  // namespace

std::shared_ptr<const DeviceProfile> existing_profile(const std::string& path,
                                                      const DeviceOptions& device,
                                                      const std::shared_ptr<ThreadPool>& pool,
                                                      const std::string& who) {
    const int threads = pool->size();
    if (!path.empty()) {
        auto p = std::make_shared<DeviceProfile>(DeviceProfile::load(path));
        check_cpu_path(*p, path);
        if (p->kernel_revision != kKernelRevision)
            std::fprintf(stderr,
                         "%s: warning: %s was fitted for kernel revision %d, this build has %d; "
                         "its predictions may be off (run nsengine deploy again)\n",
                         who.c_str(), path.c_str(), p->kernel_revision, kKernelRevision);
        if (p->threads != threads)
            std::fprintf(stderr,
                         "%s: warning: %s was fitted at %d thread(s), this runs with %d; its "
                         "predictions will be off (--threads %d, or a profile made at %d)\n",
                         who.c_str(), path.c_str(), p->threads, threads, p->threads, threads);
        return with_wire_costs(p);
    }
    const std::string cached = cached_profile_path(device_name(device.device), threads);
    struct stat sb;
    if (stat(cached.c_str(), &sb) != 0) return nullptr;
    try {
        auto p = std::make_shared<DeviceProfile>(DeviceProfile::load(cached));
        check_cpu_path(*p, cached);
        if (p->kernel_revision == kKernelRevision) return with_wire_costs(p);
        std::fprintf(stderr,
                     "%s: cached profile was fitted for kernel revision %d, this build has %d; "
                     "rebuilding it\n",
                     who.c_str(), p->kernel_revision, kKernelRevision);
    } catch (const Error& e) {
        std::fprintf(stderr, "%s: cached profile unusable (%s); rebuilding it\n", who.c_str(),
                     e.what());
    }
    return nullptr;
}

std::shared_ptr<const DeviceProfile> build_profile(const DeviceOptions& device,
                                                   const std::shared_ptr<ThreadPool>& pool,
                                                   const std::string& who,
                                                   const std::function<void(int)>& on_progress) {
    const std::string cached = cached_profile_path(device_name(device.device), pool->size());
    std::fprintf(stderr,
                 "%s: building this machine's %s profile at %d thread(s) with the deployment "
                 "phase (nsengine deploy, about 2 min on 2 cores) into %s\n",
                 who.c_str(), device_name(device.device), pool->size(), cached.c_str());
    DeviceProfile p;
    {
        Progress progress(who + ": deploy");  // (stages: micro-benchmarks, second pass)
        DeployOptions o;
        o.device = device;
        o.pool = pool;
        p = deploy_profile(o, [&](const std::string& stage, int done, int total) {
            progress.update(stage, done, total);
            // The sweep is most of the time; the second pass the last tenth.
            const bool second = stage == "second pass";
            if (on_progress) on_progress((second ? 90 : 0) + (second ? 10 : 90) * done / total);
        });
    }
    p.wire = net::measure_wire_costs();
    p.save(cached);
    return std::make_shared<DeviceProfile>(std::move(p));
}

bool parse_cuts(const std::string& s) {
    NSE_CHECK(s == "dag" || s == "positions", ErrorCode::InvalidArgument,
              "--cuts must be dag or positions, got '", s, "'");
    return s == "dag";
}

void add_queue_toll_option(cxxopts::Options& opts) {
    std::ostringstream default_toll;
    default_toll << SplitController::kDefaultQueueToll;
    opts.add_options()(
        "queue-toll",
        "with --split auto, the weight of the toll on joining a loaded cloud's queue: 1 = "
        "Naor's, the delay the request adds for the requests that will queue behind it (a busy "
        "cloud then keeps a short queue and the devices take the rest); 0 = none, each edge "
        "minimises its own latency (the queue then grows until its wait equals the devices' own "
        "time) (docs/serving.md)",
        cxxopts::value<double>()->default_value(default_toll.str()));
}

double queue_toll_arg(const cxxopts::ParseResult& args) {
    const double toll = args["queue-toll"].as<double>();
    NSE_CHECK(toll >= 0 && toll <= 100, ErrorCode::InvalidArgument,
              "--queue-toll must be 0..100, got ", toll);
    return toll;
}

std::shared_ptr<const net::WireCalibration> load_wire_calibration(const std::string& path,
                                                                  const std::string& model_file,
                                                                  const Model& model, uint64_t hash,
                                                                  const std::string& who) {
    std::string file = path;
    if (file.empty()) {
        file = net::calibration_path(model_file);
        struct stat sb;
        if (stat(file.c_str(), &sb) != 0) return nullptr;
    }
    std::shared_ptr<net::WireCalibration> c;
    try {
        c = std::make_shared<net::WireCalibration>(net::WireCalibration::load(file));
    } catch (const Error& e) {
        if (!path.empty()) throw;  // named on the command line: an error
        std::fprintf(stderr, "%s: warning: %s (nsengine calibrate again); ignored\n", who.c_str(),
                     e.what());
        return nullptr;
    }
    if (c->model_hash != net::hash_hex(hash) || c->cuts.size() != size_t(model.size())) {
        std::fprintf(stderr,
                     "%s: warning: %s was measured on another file of %s (nsengine calibrate "
                     "again); ignored\n",
                     who.c_str(), file.c_str(), model.name().c_str());
        return nullptr;
    }
    return c;
}

std::shared_ptr<const DeviceProfile> profile_for(const std::string& path,
                                                 const DeviceOptions& device,
                                                 const std::shared_ptr<ThreadPool>& pool,
                                                 const std::string& who) {
    if (auto p = existing_profile(path, device, pool, who)) return p;
    return build_profile(device, pool, who);
}

void warm_up(const std::function<void()>& run, int min_runs) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(kWarmUpMs);
    for (int r = 0; r < min_runs || std::chrono::steady_clock::now() < until; ++r) run();
}

std::string fixed(double value, int decimals) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(decimals) << value;
    return os.str();
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KB", "MB", "GB"};
    int u = 0;
    while (bytes >= 1000 && u < 3) bytes /= 1000, ++u;
    return fixed(bytes, u == 0 ? 0 : 1) + " " + units[u];
}

void print_table(std::ostream& os, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right) {
    std::vector<size_t> width(header.size());
    for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
    for (const auto& r : rows)
        for (size_t c = 0; c < r.size() && c < width.size(); ++c)
            width[c] = std::max(width[c], r[c].size());
    auto line = [&](const std::vector<std::string>& r) {
        for (size_t c = 0; c < width.size(); ++c) {
            const std::string cell = c < r.size() ? r[c] : "";
            const bool align_right = c < right.size() && right[c];
            const bool last = c + 1 == width.size();
            os << (c ? "  " : "") << (align_right ? std::right : std::left)
               << std::setw(last && !align_right ? 0 : int(width[c])) << cell;
        }
        os << '\n';
    };
    line(header);
    std::vector<std::string> rule;
    for (size_t w : width) rule.push_back(std::string(w, '-'));
    line(rule);
    for (const auto& r : rows) line(r);
    os << std::right;
}

}  // namespace nse
