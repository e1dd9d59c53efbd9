#include "layers/sweep.h"

namespace nse {

const std::vector<int64_t>& SweepContext::channels() {
    static const std::vector<int64_t> v = {3,   8,   16,  24,  32,  48,  64, 96,
                                           128, 160, 192, 256, 320, 384, 512};
    return v;
}

const std::vector<int64_t>& SweepContext::sizes() {
    static const std::vector<int64_t> v = {7, 10, 14, 20, 28, 40, 56, 80, 112, 160, 224};
    return v;
}

std::string SweepContext::desc(const std::string& what, int64_t c, int64_t h) {
    return what + " c" + std::to_string(c) + " " + std::to_string(h) + "x" + std::to_string(h);
}

void sweep_data_op(SweepContext& ctx, const std::string& kind, const std::string& op, int inputs,
                   const nlohmann::json& attrs, int per_kind) {
    sweep_maps(ctx, per_kind, [&](int64_t c, int64_t h) {
        SweepCase cfg{kind, op, SweepContext::desc(kind, c, h), {1, c, h, h}};
        cfg.inputs = inputs;
        cfg.attrs = attrs;
        ctx.add(cfg);
        return true;
    });
}

}  // namespace nse
