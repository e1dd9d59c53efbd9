#include "partition/features.h"

namespace nse {

namespace {
std::vector<Shape> inputs_at(const Model& model, const std::vector<Shape>& shapes, int i) {
    std::vector<Shape> in;
    for (int id : model.node_inputs(i)) in.push_back(shapes[id]);
    return in;
}
}  // namespace

std::vector<std::string> cost_kinds() {
    std::vector<std::string> out;
    for (const CostKind* k : cost_kind_list()) out.push_back(k->name);
    return out;
}

std::vector<std::string> feature_names(const std::string& kind) {
    const CostKind* k = find_cost_kind(kind);
    NSE_CHECK(k, ErrorCode::InvalidArgument, "unknown cost kind '", kind, "'");
    return k->features;
}

bool moves_data(const std::string& kind) {
    const CostKind* k = find_cost_kind(kind);
    return k && k->moves_data;
}

NodeFeatures node_features(const Model& model, int i, const std::vector<Shape>& in) {
    NodeCost c = model.layer(i).cost(in);
    NSE_ASSERT(c.kind && c.x.size() == c.kind->features.size());
    return {c.kind->name, std::move(c.x)};
}

std::vector<NodeFeatures> model_features(const Model& model, int64_t batch) {
    const std::vector<Shape> shapes = model.shapes_for_batch(batch);
    std::vector<NodeFeatures> out;
    for (int i = 0; i < model.size(); ++i)
        out.push_back(node_features(model, i, inputs_at(model, shapes, i)));
    return out;
}

std::vector<NodeWeights> model_weights(const Model& model, int64_t batch) {
    const std::vector<Shape> shapes = model.shapes_for_batch(batch);
    std::vector<NodeWeights> out;
    for (int i = 0; i < model.size(); ++i) {
        const std::vector<Shape> in = inputs_at(model, shapes, i);
        const Layer& layer = model.layer(i);
        NodeWeights w;
        w.out_mb = shape_mb(layer.output_shape(in));
        w.measured_cold = nse::measured_cold(double(layer.param_bytes()) / 1e6, w.out_mb);
        w.read_mb = layer.weight_read_mb(in);
        out.push_back(w);
    }
    return out;
}

std::vector<double> handoff_mb(const Model& model, int threads) {
    const std::vector<Shape> shapes = model.shapes_for_batch(model.graph().input_shape[0]);
    std::vector<bool> pool(model.size(), false);
    std::vector<double> out(model.size(), 0.0);
    for (int i = 0; i < model.size(); ++i) {
        pool[i] = threads > 1 && model.layer(i).cost(inputs_at(model, shapes, i)).parallel;
        for (int id : model.node_inputs(i))
            if ((id > 0 && pool[id - 1]) != pool[i]) out[i] += shape_mb(shapes[id]);
    }
    return out;
}

}  // namespace nse
