// nsengine calibrate: for every cut of a model and every wire encoding, the bytes its tensors take
// and, for the lossy ones, how the model's answer changes, measured on real pictures. Written
// beside the model file (<name>.wire.json), where the edge's `--wire auto` finds it.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "engine/runtime.h"
#include "net/protocol.h"
#include "net/wire_choice.h"
#include "tools/cli_util.h"
#include "weights/safetensors.h"

namespace nse {

namespace {

// Debian's python3-skimage ships these photographs (the rest of its data folder are textures,
// synthetic pictures and test fixtures).
constexpr const char* kSkimageData = "/usr/lib/python3/dist-packages/skimage/data";
constexpr const char* kSkimagePhotos[] = {
    "astronaut.png", "chelsea.png",         "coffee.png",
    "rocket.jpg",    "motorcycle_left.png", "hubble_deep_field.jpg",
    "ihc.png",       "retina.jpg",          "camera.png",
    "moon.png",      "coins.png",           "grass.png"};

bool is_dir(const std::string& p) {
    struct stat sb;
    return stat(p.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

std::vector<std::string> pictures_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name, lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
            for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp"})
                if (lower.size() > std::strlen(ext) &&
                    lower.compare(lower.size() - std::strlen(ext), std::string::npos, ext) == 0)
                    out.push_back(dir + "/" + name);
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string base_name(const std::string& p) {
    const size_t s = p.find_last_of('/');
    return s == std::string::npos ? p : p.substr(s + 1);
}

int argmax(const Tensor& t) {
    return int(std::max_element(t.data(), t.data() + t.numel()) - t.data());
}

}  // namespace

int cmd_calibrate(int argc, char** argv) {
    cxxopts::Options opts(
        "nsengine calibrate",
        "Measure, for every cut of a model and every wire encoding (" + net::encoding_names() +
            "), the bytes the cut's tensors take and, for the lossy ones, the top-1 agreement "
            "with fp32 and the largest logit error, on real pictures. Writes <model>.wire.json "
            "beside the model file, where `nsengine edge --wire auto` (the default) finds it: "
            "without it the edge sends fp32.");
    add_model_options(opts);
    opts.add_options()("images",
                       "pictures (files or folders of PNG/JPEG/BMP), comma-separated (default: "
                       "the photographs of Debian's python3-skimage)",
                       cxxopts::value<std::vector<std::string>>())(
        "out", "where to write (default: <model>.wire.json beside the model file)",
        cxxopts::value<std::string>())("h,help", "show this help");
    auto args = parse_args(opts, argc, argv);
    if (print_help(opts, args)) return 0;
    auto model = load_model_arg(args);
    const Model& m = *model;
    const std::string model_file = model_path_arg(args);
    const std::string out =
        args.count("out") ? args["out"].as<std::string>() : net::calibration_path(model_file);

    std::vector<std::string> images;
    if (args.count("images")) {
        for (const auto& p : args["images"].as<std::vector<std::string>>()) {
            if (is_dir(p)) {
                const auto in = pictures_in(p);
                NSE_CHECK(!in.empty(), ErrorCode::InvalidArgument,
                          "--images: no PNG, JPEG or BMP in ", p);
                images.insert(images.end(), in.begin(), in.end());
            } else {
                images.push_back(p);
            }
        }
    } else {
        NSE_CHECK(is_dir(kSkimageData), ErrorCode::InvalidArgument, "no pictures: ", kSkimageData,
                  " is missing (apt-get install python3-skimage), or give --images FILES|DIRS");
        for (const char* f : kSkimagePhotos) images.push_back(std::string(kSkimageData) + "/" + f);
    }

    auto pool = thread_pool_arg(args);
    Runtime rt(model, pool);
    const int n = m.size();
    const std::vector<net::WireEncoding>& encs = net::all_encodings();
    // Sums over the pictures, per cut and encoding.
    std::vector<std::vector<double>> ratio(size_t(n), std::vector<double>(encs.size(), 0)),
        agree(ratio), err(ratio);
    {
        Progress progress("calibrate " + m.name());
        for (size_t im = 0; im < images.size(); ++im) {
            const Tensor x = make_input(m, model_file, images[im]);
            const Tensor ref = rt.run(x).clone();
            const int ref_top = argmax(ref);
            float peak = 0;
            for (int64_t i = 0; i < ref.numel(); ++i)
                peak = std::max(peak, std::fabs(ref.data()[i]));
            std::vector<Tensor> live = {x.clone()};
            for (int k = 0; k < n; ++k) {
                progress.update(int(im) * n + k, int(images.size()) * n);
                if (k > 0) {  // the cut's tensors from the last one's, one node on
                    std::vector<Tensor> next;
                    for (const Tensor& t : rt.run(k - 1, k, live)) next.push_back(t.clone());
                    live = std::move(next);
                }
                // Lossy formats: the suffix once per format (a lossless stage changes nothing).
                std::map<net::WireFormat, std::pair<bool, double>> answer;
                for (size_t e = 0; e < encs.size(); ++e) {
                    const net::WireEncoding enc = encs[e];
                    double sent = 0, raw = 0;
                    bool encoded = false;  // JPEG carries NCHW only: the rest goes as fp32
                    std::vector<Tensor> decoded;
                    for (const Tensor& t : live) {
                        std::vector<uint8_t> buf;
                        raw += double(t.bytes());
                        if (!net::encode_tensor(t.data(), t.shape(), enc, buf)) {
                            sent += double(t.bytes());  // sent as fp32 then
                            decoded.push_back(t.clone());
                            continue;
                        }
                        sent += double(buf.size());
                        encoded = true;
                        if (!enc.lossless() && !answer.count(enc.format)) {
                            decoded.push_back(Tensor::zeros(t.shape()));
                            net::decode_tensor(buf.data(), buf.size(), t.shape(), enc,
                                               decoded.back().data());
                        }
                    }
                    ratio[size_t(k)][e] += sent / raw;
                    if (enc.lossless()) {
                        agree[size_t(k)][e] += 1;
                        continue;
                    }
                    if (!encoded) answer[enc.format] = {true, 0.0};  // the exact tensors
                    if (!answer.count(enc.format)) {
                        const Tensor& y = rt.run(k, n, decoded)[0];
                        double worst = 0;
                        for (int64_t i = 0; i < y.numel(); ++i)
                            worst = std::max(worst, double(std::fabs(y.data()[i] - ref.data()[i])));
                        answer[enc.format] = {argmax(y) == ref_top, peak > 0 ? worst / peak : 0};
                    }
                    agree[size_t(k)][e] += answer[enc.format].first;
                    err[size_t(k)][e] = std::max(err[size_t(k)][e], answer[enc.format].second);
                }
            }
        }
    }
    net::WireCalibration cal;
    cal.model = m.name();
    cal.model_hash = net::hash_hex(file_content_hash(model_file));
    for (const auto& p : images) cal.images.push_back(base_name(p));
    const double count = double(images.size());
    for (int k = 0; k < n; ++k) {
        std::map<std::string, net::WireMeasure> c;
        for (size_t e = 0; e < encs.size(); ++e)
            c[encs[e].name()] = {ratio[size_t(k)][e] / count, agree[size_t(k)][e] / count,
                                 err[size_t(k)][e]};
        cal.cuts.push_back(std::move(c));
    }
    cal.save(out);
    if (args.count("json")) {
        std::cout << cal.to_json().dump(2) << "\n";
        return 0;
    }
    // Per encoding: its bytes over fp32's (median over cuts), and the cuts it keeps every
    // picture's answer at.
    std::cout << m.name() << ": " << images.size() << " pictures, " << n << " cuts -> " << out
              << "\n\n";
    std::vector<std::vector<std::string>> rows;
    for (size_t e = 0; e < encs.size(); ++e) {
        std::vector<double> r;
        double worst_agree = 1, worst_err = 0;
        int ok = 0;
        for (int k = 0; k < n; ++k) {
            r.push_back(ratio[size_t(k)][e] / count);
            worst_agree = std::min(worst_agree, agree[size_t(k)][e] / count);
            worst_err = std::max(worst_err, err[size_t(k)][e]);
            ok += agree[size_t(k)][e] / count >= 0.995;
        }
        std::sort(r.begin(), r.end());
        rows.push_back({encs[e].name(), fixed(r[r.size() / 2], 3), fixed(r.front(), 3),
                        fixed(100 * worst_agree, 1) + " %", fixed(worst_err, 4),
                        std::to_string(ok) + "/" + std::to_string(n)});
    }
    print_table(std::cout,
                {"encoding", "bytes/fp32 (median cut)", "best cut", "top-1 agreement (worst cut)",
                 "max rel. logit error", "cuts at >= 99.5 %"},
                rows, {false, true, true, true, true, true});
    return 0;
}

}  // namespace nse
