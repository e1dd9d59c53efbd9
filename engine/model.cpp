#include "engine/model.h"

#include <map>
#include <set>

#include "base/error.h"

namespace nse {

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

std::string canonical_model_name(const std::string& name) {
    static const std::map<std::string, std::string> aliases = {
        {"alex_net", "alexnet"}, {"vgg_net", "vgg16"},           {"vgg", "vgg16"},
        {"le_net", "lenet"},     {"mobile_net", "mobilenet_v2"}, {"mobilenet", "mobilenet_v2"},
        {"resnet", "resnet18"},
    };
    auto it = aliases.find(name);
    return it == aliases.end() ? name : it->second;
}

std::string model_path(const std::string& dir, const std::string& name) {
    const std::string ext = ".safetensors";
    const bool looks_like_path =
        name.find('/') != std::string::npos ||
        (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0);
    if (looks_like_path) return name;  // a path is taken as given, whether it exists or not
    return dir + "/" + canonical_model_name(name) + ".safetensors";
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
    return from_safetensors(read_safetensors(path), path, path);
}

std::shared_ptr<const Model> Model::from_safetensors(SafeTensors file, const std::string& where,
                                                     const std::string& path) {
    auto m = std::shared_ptr<Model>(new Model());
    m->file_ = std::move(file);
    m->path_ = path;
    const auto& meta = m->file_.metadata;
    auto fmt = meta.find("nsengine.format");
    NSE_CHECK(fmt != meta.end(), ErrorCode::InvalidModel, where,
              ": no nsengine.format metadata (not an nsengine model file; convert one with "
              "tools/convert_torchvision.py)");
    NSE_CHECK(fmt->second == "1", ErrorCode::InvalidModel, where, ": model format ", fmt->second,
              " is not supported (this nsengine reads format 1)");
    auto graph_text = meta.find("nsengine.graph");
    NSE_CHECK(graph_text != meta.end(), ErrorCode::InvalidModel, where,
              ": no nsengine.graph metadata");
    try {
        m->graph_ = Graph::from_json(graph_text->second);
    } catch (const Error& e) {
        throw Error(ErrorCode::InvalidModel, where + ": " + e.what());
    }
    m->name_ = m->metadata_or("nsengine.model", "model");

    const Graph& g = m->graph_;
    std::map<std::string, int> ids = {{g.input_name, 0}};
    for (int i = 0; i < m->size(); ++i) ids[g.nodes[i].name] = i + 1;
    m->last_use_.assign(m->tensor_count(), -1);
    std::set<std::string> used_params;

    for (int i = 0; i < m->size(); ++i) {
        const Node& node = g.nodes[i];
        const std::string ctx = where + ": node '" + node.name + "' (" + node.op + ")";
        const OpRecord* op = find_op(node.op);
        NSE_CHECK(op, ErrorCode::InvalidModel, ctx, ": unknown op; known ops: ", join(known_ops()));
        std::shared_ptr<Layer> layer = op->make();
        std::vector<Tensor> params;
        for (const auto& p : node.params) {
            auto t = m->file_.tensors.find(p);
            NSE_CHECK(t != m->file_.tensors.end(), ErrorCode::InvalidModel, ctx,
                      ": weight tensor '", p, "' is not in the file");
            NSE_CHECK(used_params.insert(p).second, ErrorCode::InvalidModel, ctx,
                      ": weight tensor '", p, "' is already used by another node");
            params.push_back(t->second);
        }
        std::vector<int> in_ids;
        for (const auto& in : node.inputs) {
            in_ids.push_back(ids.at(in));
            m->last_use_[ids.at(in)] = i;
        }
        const int arity = layer->arity();
        NSE_CHECK(arity < 0 || static_cast<int>(in_ids.size()) == arity, ErrorCode::InvalidModel,
                  ctx, ": takes ", arity, " input(s), the graph gives ", in_ids.size());
        try {
            layer->load(node.attrs, std::move(params));
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidModel, ctx + ": " + e.what());
        }
        m->inputs_.push_back(std::move(in_ids));
        m->layers_.push_back(std::move(layer));
        m->ops_.push_back(op);
    }
    for (const auto& [name, t] : m->file_.tensors)
        NSE_CHECK(used_params.count(name), ErrorCode::InvalidModel, where, ": tensor '", name,
                  "' is not used by any node of the graph");
    for (const auto& out : g.outputs) {
        m->output_ids_.push_back(ids.at(out));
        m->last_use_[ids.at(out)] = m->size();
    }

    std::vector<Shape> shapes = m->shapes_for_batch(g.input_shape[0]);
    for (int i = 0; i < m->size(); ++i) {
        std::vector<Shape> in;
        for (int id : m->inputs_[i]) in.push_back(shapes[id]);
        NodeInfo info;
        info.out_shape = shapes[i + 1];
        info.flops = m->layers_[i]->flops(in);
        info.out_bytes = static_cast<size_t>(numel(info.out_shape)) * sizeof(float);
        info.param_bytes = m->layers_[i]->param_bytes();
        m->info_.push_back(std::move(info));
        m->layers_[i]->prepare(in);
    }

    auto classes = meta.find("nsengine.classes");
    if (classes != meta.end()) {
        auto j = nlohmann::json::parse(classes->second, nullptr, false);
        NSE_CHECK(!j.is_discarded() && j.is_array(), ErrorCode::InvalidModel, where,
                  ": nsengine.classes is not a JSON list");
        for (const auto& c : j) m->classes_.push_back(c.is_string() ? c.get<std::string>() : "?");
    }
    return m;
}

std::shared_ptr<const Model> Model::reordered(const std::shared_ptr<const Model>& base,
                                              const std::vector<int>& order) {
    const int n = base->size();
    NSE_CHECK(int(order.size()) == n, ErrorCode::InvalidArgument, "a node order of ", n,
              " nodes has ", order.size());
    std::vector<int> position(n, -1);
    for (int i = 0; i < n; ++i) {
        NSE_CHECK(order[i] >= 0 && order[i] < n && position[order[i]] < 0,
                  ErrorCode::InvalidArgument, "a node order must list each node once");
        position[order[i]] = i;
    }
    auto m = std::shared_ptr<Model>(new Model());
    m->base_ = base->base_ ? base->base_ : base;
    for (int b : order) m->base_order_.push_back(base->base_node(b));
    m->file_ = base->file_;
    m->name_ = base->name_;
    m->path_ = base->path_;
    m->classes_ = base->classes_;
    m->graph_.input_name = base->graph_.input_name;
    m->graph_.input_shape = base->graph_.input_shape;
    m->graph_.outputs = base->graph_.outputs;
    // Tensor ids: 0 stays the input, base id j + 1 becomes position[j] + 1.
    const auto new_id = [&](int id) { return id == 0 ? 0 : position[id - 1] + 1; };
    m->last_use_.assign(size_t(n) + 1, -1);
    for (int i = 0; i < n; ++i) {
        const int b = order[i];
        m->graph_.nodes.push_back(base->graph_.nodes[b]);
        m->layers_.push_back(base->layers_[b]);
        m->ops_.push_back(base->ops_[b]);
        m->info_.push_back(base->info_[b]);
        std::vector<int> in_ids;
        for (int id : base->inputs_[b]) {
            const int nid = new_id(id);
            NSE_CHECK(nid < i + 1, ErrorCode::InvalidArgument, "node '", base->graph_.nodes[b].name,
                      "' comes before its input '", base->tensor_name(id), "' in the new order");
            in_ids.push_back(nid);
            m->last_use_[nid] = i;
        }
        m->inputs_.push_back(std::move(in_ids));
    }
    for (int id : base->output_ids_) {
        m->output_ids_.push_back(new_id(id));
        m->last_use_[new_id(id)] = n;
    }
    return m;
}

const std::string& Model::tensor_name(int id) const {
    return id == 0 ? graph_.input_name : graph_.nodes[id - 1].name;
}

std::vector<Shape> Model::shapes_for_batch(int64_t batch) const {
    NSE_CHECK(batch >= 1, ErrorCode::InvalidArgument, "batch size must be >= 1, got ", batch);
    std::vector<Shape> shapes(tensor_count());
    shapes[0] = graph_.input_shape;
    shapes[0][0] = batch;
    for (int i = 0; i < size(); ++i) {
        std::vector<Shape> in;
        for (int id : inputs_[i]) in.push_back(shapes[id]);
        try {
            shapes[i + 1] = layers_[i]->output_shape(in);
        } catch (const Error& e) {
            throw Error(ErrorCode::InvalidModel, "node '" + graph_.nodes[i].name + "' (" +
                                                     graph_.nodes[i].op + "): " + e.what());
        }
    }
    return shapes;
}

int Model::batched_from(int begin, int end) const {
    int j = end;
    while (j > begin) {
        const NodeInfo& node = info(j - 1);
        const bool batch_pays = node.param_bytes > 0 ? node.param_bytes >= node.out_bytes
                                                     : node.out_bytes <= kSmallPerImage;
        if (!batch_pays) break;
        --j;
    }
    return j;
}

std::vector<int> Model::live_at(int cut) const {
    NSE_ASSERT(cut >= 0 && cut <= size());
    std::vector<int> live;
    for (int id = 0; id < tensor_count(); ++id) {
        const int producer = id - 1;  // the input (id 0) is "produced" before node 0
        if (producer < cut && last_use_[id] >= cut) live.push_back(id);
    }
    return live;
}

size_t Model::live_bytes(int cut) const {
    size_t bytes = 0;
    for (int id : live_at(cut))
        bytes += static_cast<size_t>(id == 0 ? numel(graph_.input_shape)
                                             : numel(info_[id - 1].out_shape)) *
                 sizeof(float);
    return bytes;
}

std::string Model::metadata_or(const std::string& key, const std::string& fallback) const {
    auto it = file_.metadata.find(key);
    return it == file_.metadata.end() ? fallback : it->second;
}

double Model::total_flops() const {
    double f = 0;
    for (const auto& i : info_) f += i.flops;
    return f;
}

size_t Model::total_param_bytes() const {
    size_t b = 0;
    for (const auto& i : info_) b += i.param_bytes;
    return b;
}

}  // namespace nse
