#include "lab/sweep.h"

#include <algorithm>
#include <map>

#include "layers/op.h"

namespace nse {

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
    Tensor t = Tensor::zeros(shape);
    std::uniform_real_distribution<float> d(-0.1f, 0.1f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = d(rng);
    return t;
}

std::shared_ptr<const Model> build(const SweepCase& c, std::mt19937& rng) {
    SafeTensors file;
    std::vector<std::string> names;
    for (size_t i = 0; i < c.params.size(); ++i) {
        names.push_back("p" + std::to_string(i));
        file.tensors[names.back()] = random_tensor(c.params[i], rng);
    }
    std::vector<std::string> inputs(c.inputs, "input");
    nlohmann::json graph = {{"input", {{"name", "input"}, {"shape", c.input}}},
                            {"nodes",
                             {{{"name", "x"},
                               {"op", c.op},
                               {"inputs", inputs},
                               {"attrs", c.attrs},
                               {"params", names}}}},
                            {"outputs", {"x"}}};
    file.metadata = {
        {"nsengine.format", "1"}, {"nsengine.model", "deploy"}, {"nsengine.graph", graph.dump()}};
    return Model::from_safetensors(std::move(file), "deploy: " + c.desc);
}

std::vector<SweepCase> make_configs(bool quick, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<SweepCase> out;
    SweepContext ctx(rng, quick, out);
    for (const OpRecord& op : op_records()) op.sweep(ctx);
    // In a seeded random order that spreads each kind's layers evenly through the sweep rather
    // than in one stretch of it: the machine's speed moves from one half-minute to the next,
    // which, kind by kind in blocks, went into each kind's fit as a bias of its own
    // (docs/split.md, "The sweep's order"). The j-th of a kind's n instances (its own order
    // shuffled) takes a random place in the j-th n-th of the sweep: a plain shuffle left some
    // kind of 40 instances with 3 in one quarter.
    std::map<std::string, std::vector<size_t>> by_kind;
    for (size_t i = 0; i < out.size(); ++i) by_kind[out[i].kind].push_back(i);
    std::uniform_real_distribution<double> within(0.0, 1.0);
    std::vector<std::pair<double, size_t>> places;
    for (auto& [kind, indices] : by_kind) {
        std::shuffle(indices.begin(), indices.end(), rng);
        for (size_t j = 0; j < indices.size(); ++j)
            places.push_back({(double(j) + within(rng)) / double(indices.size()), indices[j]});
    }
    std::sort(places.begin(), places.end());
    std::vector<SweepCase> ordered;
    ordered.reserve(out.size());
    for (const auto& [place, i] : places) ordered.push_back(std::move(out[i]));
    return ordered;
}

}  // namespace nse
