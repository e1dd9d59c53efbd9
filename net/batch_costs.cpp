#include "net/batch_costs.h"

#include <algorithm>

namespace nse::net {

double RequestCost::at(int64_t images) const {
    if (images <= 0 || sizes.empty()) return 0;
    if (sizes.size() == 1) return ms[0] * double(images);
    size_t j = 1;
    while (j + 1 < sizes.size() && sizes[j] < images) ++j;
    const double t = double(images - sizes[j - 1]) / double(sizes[j] - sizes[j - 1]);
    return std::max(0.0, ms[j - 1] + t * (ms[j] - ms[j - 1]));
}

BatchCosts::BatchCosts(const Model& model, const DeviceProfile& profile, int max_batch) {
    for (int64_t b = 1;; b *= 2) {
        sizes_.push_back(b);
        node_ms_.push_back(profile.predict_model(model, b));
        std::vector<double> suffix(node_ms_.back().size() + 1, 0.0);
        for (int k = int(node_ms_.back().size()) - 1; k >= 0; --k)
            suffix[k] = suffix[k + 1] + node_ms_.back()[k];
        suffix_.push_back(std::move(suffix));
        if (b >= max_batch) break;
    }
}

RequestCost BatchCosts::request(uint32_t cut, const NodeSet* edge) const {
    RequestCost c;
    c.sizes = sizes_;
    for (size_t s = 0; s < sizes_.size(); ++s) {
        if (!edge) {
            c.ms.push_back(suffix_[s][cut]);
            continue;
        }
        double ms = 0;
        for (size_t i = 0; i < node_ms_[s].size(); ++i)
            if (!(*edge)[i]) ms += node_ms_[s][i];
        c.ms.push_back(ms);
    }
    return c;
}

}  // namespace nse::net
