#include "layers/cost.h"

namespace nse {

double inputs_mb(const std::vector<Shape>& in) {
    double mb = 0;
    for (const Shape& s : in) mb += shape_mb(s);
    return mb;
}

std::vector<std::string> data_feature_names() { return {"1", "in_mb", "out_mb", "in_mb_split"}; }

NodeCost data_cost(const CostKind& kind, const std::vector<Shape>& in, const Shape& out,
                   bool parallel) {
    const double in_mb = inputs_mb(in);
    // Read partly from another core's cache where several threads wrote it (kSplitInputMb): a
    // cost of its own, so the rates of small layers, whose inputs stay in one core, fit apart.
    const double split_mb = in_mb >= kSplitInputMb ? in_mb : 0.0;
    return {&kind, {1, in_mb, shape_mb(out), split_mb}, parallel};
}

}  // namespace nse
