#include "engine/cuda_runtime.h"

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

#include "engine/cuda_fallback.h"
#include "engine/memory_plan.h"
#include "layers/gpu_op.h"

namespace nse {

namespace {

using cuda::Context;

void check_cuda_device_once() {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    NSE_CHECK(err == cudaSuccess, ErrorCode::Unsupported,
              "--device cuda: no usable CUDA device on this machine (the CUDA runtime says: ",
              cudaGetErrorString(err), ")");
    NSE_CHECK(count > 0, ErrorCode::Unsupported, "--device cuda: no CUDA device found");
}

// Device memory that frees itself (errors at exit, when the context may be gone, are ignored).
struct DeviceMemory {
    void* p = nullptr;
    DeviceMemory() = default;
    explicit DeviceMemory(size_t bytes) {
        if (bytes) NSE_CUDA_CHECK(cudaMalloc(&p, bytes));
    }
    DeviceMemory(const DeviceMemory&) = delete;
    DeviceMemory& operator=(DeviceMemory&& o) noexcept {
        std::swap(p, o.p);
        return *this;
    }
    ~DeviceMemory() {
        if (p) cudaFree(p);
    }
    float* floats() const { return static_cast<float*>(p); }
};

struct PinnedMemory {
    void* p = nullptr;
    PinnedMemory() = default;
    explicit PinnedMemory(size_t bytes) {
        if (bytes) NSE_CUDA_CHECK(cudaMallocHost(&p, bytes));
    }
    PinnedMemory(const PinnedMemory&) = delete;
    PinnedMemory& operator=(PinnedMemory&& o) noexcept {
        std::swap(p, o.p);
        return *this;
    }
    ~PinnedMemory() {
        if (p) cudaFreeHost(p);
    }
    float* floats() const { return static_cast<float*>(p); }
};

constexpr size_t kAlignFloats = 64;  // 256 bytes, what cuDNN and cuBLAS like best
size_t round_up(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// A model's weights on the GPU: one allocation, uploaded once, shared by all runtimes of the
// model in this process (the cloud has one runtime per worker).
struct DeviceWeights {
    DeviceMemory memory;
    std::vector<std::vector<const float*>> params;  // per node

    explicit DeviceWeights(const Model& m) {
        size_t total = 0;
        for (int i = 0; i < m.size(); ++i)
            for (const Tensor& t : m.layer(i).params()) total += round_up(size_t(t.numel()));
        memory = DeviceMemory(total * sizeof(float));
        params.resize(m.size());
        size_t at = 0;
        for (int i = 0; i < m.size(); ++i)
            for (const Tensor& t : m.layer(i).params()) {
                float* dst = memory.floats() + at;
                NSE_CUDA_CHECK(cudaMemcpy(dst, t.data(), t.bytes(), cudaMemcpyHostToDevice));
                params[i].push_back(dst);
                at += round_up(size_t(t.numel()));
            }
        // cudaMemcpy from pageable memory may return before its DMA lands, and our streams do
        // not wait for the legacy stream: finish the upload before any kernel reads it.
        NSE_CUDA_CHECK(cudaDeviceSynchronize());
    }
};

std::shared_ptr<DeviceWeights> weights_for(const std::shared_ptr<const Model>& model) {
    static std::mutex mu;
    static std::map<const Model*, std::weak_ptr<DeviceWeights>> cache;
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = cache.begin(); it != cache.end();)
        it = it->second.expired() ? cache.erase(it) : std::next(it);
    auto& slot = cache[model.get()];
    if (auto w = slot.lock()) return w;
    // The weights hold no reference to the model; keep the model alive alongside them.
    auto w = std::shared_ptr<DeviceWeights>(new DeviceWeights(*model),
                                            [model](DeviceWeights* p) { delete p; });
    slot = w;
    return w;
}

class CudaRuntime : public Executor {
  public:
    CudaRuntime(std::shared_ptr<const Model> model, const DeviceOptions& options,
                std::shared_ptr<ThreadPool> pool)
        : Executor(std::move(model)), options_(options), pool_(std::move(pool)) {
        check_cuda_device();
        NSE_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking));
        NSE_CUDNN_CHECK(cudnnCreate(&ctx_.cudnn));
        NSE_CUDNN_CHECK(cudnnSetStream(ctx_.cudnn, ctx_.stream));
        NSE_CUBLAS_CHECK(cublasCreate(&ctx_.cublas));
        NSE_CUBLAS_CHECK(cublasSetStream(ctx_.cublas, ctx_.stream));
        NSE_CUBLAS_CHECK(cublasSetMathMode(
            ctx_.cublas, options.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
        // A workspace of our own, so cuBLAS allocates nothing while a graph is captured.
        cublas_ws_ = DeviceMemory(kCublasWorkspace);
        NSE_CUBLAS_CHECK(cublasSetWorkspace(ctx_.cublas, cublas_ws_.p, kCublasWorkspace));
        ctx_.tf32 = options.tf32;
        // A reordered copy of a model (a DAG partition) shares its weights on the device too.
        weights_ = weights_for(model_->base() ? model_->base() : model_);
        cudaDeviceProp prop{};
        int dev = 0;
        NSE_CUDA_CHECK(cudaGetDevice(&dev));
        NSE_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
        description_ = "cuda:" + std::to_string(dev) + " (" + prop.name + ")";
    }

    ~CudaRuntime() override {
        plans_.clear();
        if (ctx_.cublas) cublasDestroy(ctx_.cublas);
        if (ctx_.cudnn) cudnnDestroy(ctx_.cudnn);
        if (ctx_.stream) cudaStreamDestroy(ctx_.stream);
    }

    using Executor::run;
    const std::vector<Tensor>& run(int begin, int end, const std::vector<Tensor>& live_in) override;
    std::string description() const override { return description_; }

    std::vector<Tensor> input_buffers(int begin, int end, int64_t batch) override {
        NSE_CHECK(begin >= 0 && begin <= end && end <= model_->size(), ErrorCode::InvalidArgument,
                  "node range [", begin, ", ", end, ") is not within [0, ", model_->size(), "]");
        Plan& plan = plan_for(begin, end, batch);
        std::vector<Tensor> out;
        for (size_t i = 0; i < plan.in_ids.size(); ++i)
            out.push_back(Tensor::view(plan.shapes[plan.in_ids[i]], plan.host_in_ptr[i]));
        return out;
    }

    std::vector<std::string> node_choices(int64_t batch) override {
        Plan& plan = plan_for(0, model_->size(), batch);
        std::vector<std::string> out;
        for (const auto& op : plan.ops) out.push_back(op->how());
        return out;
    }

  private:
    static constexpr size_t kCublasWorkspace = size_t(32) << 20;

    struct Plan {
        std::vector<int> in_ids, out_ids;
        std::vector<Shape> shapes;
        std::vector<float*> device;  // per tensor id
        DeviceMemory arena, inputs, workspace;
        PinnedMemory host_in, host_out;
        std::vector<float*> host_in_ptr, host_out_ptr;
        std::vector<size_t> in_bytes, out_bytes;
        std::vector<std::unique_ptr<cuda::GpuOp>> ops;     // per node in range
        std::vector<std::vector<const float*>> op_inputs;  // per node in range
        std::vector<int> host_ops;    // indices into ops of those that run work on the host
        std::vector<Tensor> outputs;  // views of host_out
        cudaGraphExec_t graph = nullptr;
        bool graph_failed = false;
        int runs = 0;
        ~Plan() {
            if (graph) cudaGraphExecDestroy(graph);
        }
    };

    Plan& plan_for(int begin, int end, int64_t batch);
    // Enqueues copy in, nodes [begin, end), copy out; with an observer, waits for and times each
    // node.
    void enqueue(Plan& plan, int begin, int end, bool timed);
    void try_capture(Plan& plan, int begin, int end);

    DeviceOptions options_;
    std::shared_ptr<ThreadPool> pool_;  // for nodes of ops without a GPU kernel
    Context ctx_;
    DeviceMemory cublas_ws_;
    std::shared_ptr<DeviceWeights> weights_;
    std::string description_;
    std::map<std::tuple<int, int, int64_t>, std::unique_ptr<Plan>> plans_;
};

CudaRuntime::Plan& CudaRuntime::plan_for(int begin, int end, int64_t batch) {
    auto key = std::make_tuple(begin, end, batch);
    auto it = plans_.find(key);
    if (it != plans_.end()) return *it->second;

    const Model& m = *model_;
    auto plan = std::make_unique<Plan>();
    plan->in_ids = m.live_at(begin);
    plan->out_ids = m.live_at(end);
    plan->shapes = m.shapes_for_batch(batch);
    plan->device.assign(m.tensor_count(), nullptr);

    const MemoryPlan mem = plan_memory(m, begin, end, plan->shapes, kAlignFloats);
    plan->arena = DeviceMemory(mem.arena_floats * sizeof(float));
    // On our stream: a cudaMemset on the legacy stream would not be ordered with it.
    if (mem.arena_floats)
        NSE_CUDA_CHECK(
            cudaMemsetAsync(plan->arena.p, 0, mem.arena_floats * sizeof(float), ctx_.stream));
    for (int i = begin; i < end; ++i)
        plan->device[i + 1] = plan->arena.floats() + mem.offset[i + 1];

    size_t in_floats = 0, out_floats = 0;
    for (int id : plan->in_ids) in_floats += round_up(size_t(numel(plan->shapes[id])));
    for (int id : plan->out_ids) out_floats += round_up(size_t(numel(plan->shapes[id])));
    plan->inputs = DeviceMemory(in_floats * sizeof(float));
    plan->host_in = PinnedMemory(in_floats * sizeof(float));
    plan->host_out = PinnedMemory(out_floats * sizeof(float));
    size_t at = 0;
    for (int id : plan->in_ids) {
        plan->device[id] = plan->inputs.floats() + at;
        plan->host_in_ptr.push_back(plan->host_in.floats() + at);
        plan->in_bytes.push_back(size_t(numel(plan->shapes[id])) * sizeof(float));
        at += round_up(size_t(numel(plan->shapes[id])));
    }
    if (in_floats)
        NSE_CUDA_CHECK(cudaMemsetAsync(plan->inputs.p, 0, in_floats * sizeof(float), ctx_.stream));
    at = 0;
    for (int id : plan->out_ids) {
        plan->host_out_ptr.push_back(plan->host_out.floats() + at);
        plan->out_bytes.push_back(size_t(numel(plan->shapes[id])) * sizeof(float));
        plan->outputs.push_back(Tensor::view(plan->shapes[id], plan->host_out_ptr.back()));
        at += round_up(size_t(numel(plan->shapes[id])));
    }

    size_t ws = 0;
    for (int i = begin; i < end; ++i) {
        std::vector<Shape> in_shapes;
        std::vector<const float*> ins;
        for (int in : m.node_inputs(i)) {
            in_shapes.push_back(plan->shapes[in]);
            ins.push_back(plan->device[in]);
        }
        std::unique_ptr<cuda::GpuOp> op;
        bool gpu_kernel = true;
        try {
            const GpuSupport& gpu = m.op(i).gpu;
            // (A factory may decline a node its kernel does not cover: it runs on the CPU.)
            if (gpu.make) op = gpu.make(m.layer(i), weights_->params[size_t(m.base_node(i))]);
            gpu_kernel = op != nullptr;
            if (!op) op = cuda::make_cpu_fallback(m.layer(i), m.node(i).op, pool_);
            op->prepare(ctx_, in_shapes, plan->shapes[i + 1], ins, plan->device[i + 1]);
        } catch (const Error& e) {
            throw Error(e.code(),
                        "node '" + m.node(i).name + "' (" + m.node(i).op + "): " + e.what());
        }
        ws = std::max(ws, op->workspace_bytes());
        if (!gpu_kernel) plan->host_ops.push_back(int(plan->ops.size()));
        plan->ops.push_back(std::move(op));
        plan->op_inputs.push_back(std::move(ins));
    }
    plan->workspace = DeviceMemory(ws);
    NSE_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    return *plans_.emplace(key, std::move(plan)).first->second;
}

void CudaRuntime::enqueue(Plan& plan, int begin, int end, bool timed) {
    for (size_t k = 0; k < plan.in_ids.size(); ++k)
        if (plan.in_bytes[k])
            NSE_CUDA_CHECK(cudaMemcpyAsync(plan.device[plan.in_ids[k]], plan.host_in_ptr[k],
                                           plan.in_bytes[k], cudaMemcpyHostToDevice, ctx_.stream));
    for (int i = begin; i < end; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        if (timed) NSE_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
        if (timed) t0 = std::chrono::steady_clock::now();
        plan.ops[i - begin]->launch(ctx_, plan.op_inputs[i - begin], plan.device[i + 1],
                                    plan.workspace.p);
        if (timed) {
            NSE_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
            observer_(i,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    }
    for (size_t k = 0; k < plan.out_ids.size(); ++k)
        if (plan.out_bytes[k])
            NSE_CUDA_CHECK(cudaMemcpyAsync(plan.host_out_ptr[k], plan.device[plan.out_ids[k]],
                                           plan.out_bytes[k], cudaMemcpyDeviceToHost, ctx_.stream));
}

void CudaRuntime::try_capture(Plan& plan, int begin, int end) {
    // The run that called this has its results already: a capture that cannot even start only
    // means this plan keeps launching node by node.
    if (cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        (void)cudaGetLastError();
        plan.graph_failed = true;
        return;
    }
    bool ok = true;
    try {
        enqueue(plan, begin, end, false);
    } catch (const Error&) {
        ok = false;
    }
    cudaGraph_t graph = nullptr;
    ok = cudaStreamEndCapture(ctx_.stream, &graph) == cudaSuccess && ok && graph;
    if (ok) ok = cudaGraphInstantiate(&plan.graph, graph, 0) == cudaSuccess;
    if (graph) cudaGraphDestroy(graph);
    if (!ok) {
        // Some library call refused capture: this plan runs node by node from now on.
        (void)cudaGetLastError();
        plan.graph = nullptr;
        plan.graph_failed = true;
    }
}

const std::vector<Tensor>& CudaRuntime::run(int begin, int end,
                                            const std::vector<Tensor>& live_in) {
    Plan& plan = plan_for(begin, end, check_range(begin, end, live_in));
    check_live_in(begin, plan.in_ids, plan.shapes, live_in);
    for (size_t i = 0; i < live_in.size(); ++i)
        if (live_in[i].data() != plan.host_in_ptr[i])
            std::memcpy(plan.host_in_ptr[i], live_in[i].data(), plan.in_bytes[i]);
    if (plan.graph && !observer_) {
        NSE_CUDA_CHECK(cudaGraphLaunch(plan.graph, ctx_.stream));
    } else {
        enqueue(plan, begin, end, bool(observer_));
    }
    NSE_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    for (int k : plan.host_ops)
        if (std::string why = plan.ops[k]->host_failure(); !why.empty())
            throw Error(ErrorCode::Internal,
                        "node '" + model_->node(begin + k).name + "' (CPU fallback): " + why);
    ++plan.runs;
    if (options_.cuda_graphs && !plan.graph && !plan.graph_failed && !observer_)
        try_capture(plan, begin, end);
    return plan.outputs;
}

}  // namespace

void check_cuda_device() {
    static std::once_flag once;
    static std::string failure;
    std::call_once(once, [] {
        try {
            check_cuda_device_once();
        } catch (const Error& e) {
            failure = e.what();
        }
    });
    NSE_CHECK(failure.empty(), ErrorCode::Unsupported, failure);
}

std::unique_ptr<Executor> make_cuda_runtime(std::shared_ptr<const Model> model,
                                            const DeviceOptions& options,
                                            std::shared_ptr<ThreadPool> pool) {
    return std::make_unique<CudaRuntime>(std::move(model), options, std::move(pool));
}

}  // namespace nse
