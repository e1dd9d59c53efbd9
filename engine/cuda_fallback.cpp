#include "engine/cuda_fallback.h"

#include <cstdio>
#include <mutex>
#include <set>
#include <utility>

namespace nse::cuda {

namespace {

struct PinnedFloats {
    float* p = nullptr;
    explicit PinnedFloats(size_t n) {
        if (n) NSE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p), n * sizeof(float)));
    }
    PinnedFloats(const PinnedFloats&) = delete;
    PinnedFloats& operator=(const PinnedFloats&) = delete;
    ~PinnedFloats() {
        if (p) cudaFreeHost(p);
    }
};

void say_once(const std::string& op) {
    static std::mutex mu;
    static std::set<std::string> said;
    std::lock_guard<std::mutex> lock(mu);
    if (said.insert(op).second)
        std::fprintf(stderr,
                     "nsengine: op '%s' has no CUDA kernel; its nodes run on the CPU (inputs and "
                     "output copied between GPU and host)\n",
                     op.c_str());
}

class CpuFallbackOp : public GpuOp {
  public:
    CpuFallbackOp(const Layer& layer, std::shared_ptr<ThreadPool> pool)
        : layer_(layer), pool_(std::move(pool)) {
        how_ = "CPU fallback (no CUDA kernel), " + std::to_string(pool_->size()) + " thread(s)";
    }

    void prepare(Context&, const std::vector<Shape>& in_shapes, const Shape& out_shape,
                 const std::vector<const float*>&, float*) override {
        for (const Shape& s : in_shapes) {
            inputs_.push_back(std::make_unique<PinnedFloats>(size_t(numel(s))));
            in_tensors_.push_back(Tensor::view(s, inputs_.back()->p));
        }
        for (const Tensor& t : in_tensors_) in_ptrs_.push_back(&t);
        output_ = std::make_unique<PinnedFloats>(size_t(numel(out_shape)));
        out_tensor_ = Tensor::view(out_shape, output_->p);
        workspace_.resize(layer_.workspace_floats(in_shapes, pool_->size()));
    }

    void launch(Context& ctx, const std::vector<const float*>& in, float* out, void*) override {
        for (size_t i = 0; i < in.size(); ++i)
            if (in_tensors_[i].bytes())
                NSE_CUDA_CHECK(cudaMemcpyAsync(inputs_[i]->p, in[i], in_tensors_[i].bytes(),
                                               cudaMemcpyDeviceToHost, ctx.stream));
        NSE_CUDA_CHECK(cudaLaunchHostFunc(ctx.stream, &CpuFallbackOp::run_on_host, this));
        if (out_tensor_.bytes())
            NSE_CUDA_CHECK(cudaMemcpyAsync(out, output_->p, out_tensor_.bytes(),
                                           cudaMemcpyHostToDevice, ctx.stream));
    }

    std::string host_failure() override { return std::exchange(failure_, std::string()); }

  private:
    // On a CUDA driver thread, after the copies in; it may call no CUDA function, and nothing
    // may throw through it: a failure is kept for host_failure().
    static void run_on_host(void* self) {
        auto* op = static_cast<CpuFallbackOp*>(self);
        try {
            op->layer_.forward(op->in_ptrs_, op->out_tensor_, op->workspace_.data(), *op->pool_);
        } catch (const std::exception& e) {
            op->failure_ = e.what();
        }
    }

    const Layer& layer_;
    std::shared_ptr<ThreadPool> pool_;
    std::vector<std::unique_ptr<PinnedFloats>> inputs_;
    std::vector<Tensor> in_tensors_;
    std::vector<const Tensor*> in_ptrs_;
    std::unique_ptr<PinnedFloats> output_;
    Tensor out_tensor_;
    std::vector<float> workspace_;
    std::string failure_;
};

}  // namespace

std::unique_ptr<GpuOp> make_cpu_fallback(const Layer& layer, const std::string& op_name,
                                         std::shared_ptr<ThreadPool> pool) {
    say_once(op_name);
    return std::make_unique<CpuFallbackOp>(layer, std::move(pool));
}

}  // namespace nse::cuda
