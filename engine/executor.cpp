#include "engine/executor.h"

#include <algorithm>

#include "engine/runtime.h"
#ifdef NSE_HAVE_CUDA
#include "engine/cuda_runtime.h"
#endif

namespace nse {

Device parse_device(const std::string& name) {
    if (name == "cpu") return Device::Cpu;
    if (name == "cuda") return Device::Cuda;
    throw Error(ErrorCode::InvalidArgument,
                detail::concat("--device must be cpu or cuda, got '", name, "'"));
}

const char* device_name(Device device) { return device == Device::Cuda ? "cuda" : "cpu"; }

bool cuda_backend_built() {
#ifdef NSE_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

void check_device_available(const DeviceOptions& options) {
    if (options.device == Device::Cpu) return;
#ifdef NSE_HAVE_CUDA
    check_cuda_device();
#else
    throw Error(ErrorCode::Unsupported,
                "--device cuda: this nsengine was built without the CUDA backend (configure with "
                "-DNSE_WITH_CUDA=ON on a machine with the CUDA Toolkit and cuDNN)");
#endif
}

Executor::Executor(std::shared_ptr<const Model> model) : model_(std::move(model)) {
    // live_at(size()) lists the outputs by ascending id; find the graph's first output there.
    const std::vector<int> ids = model_->live_at(model_->size());
    first_output_ = std::find(ids.begin(), ids.end(), model_->output_ids()[0]) - ids.begin();
}

int64_t Executor::check_range(int begin, int end, const std::vector<Tensor>& live_in) const {
    const Model& m = *model_;
    NSE_CHECK(begin >= 0 && begin <= end && end <= m.size(), ErrorCode::InvalidArgument,
              "node range [", begin, ", ", end, ") is not within [0, ", m.size(), "]");
    NSE_CHECK(!live_in.empty() && !live_in[0].shape().empty(), ErrorCode::InvalidArgument,
              "no input tensors given for cut ", begin);
    return live_in[0].dim(0);
}

void Executor::check_live_in(int begin, const std::vector<int>& ids,
                             const std::vector<Shape>& shapes,
                             const std::vector<Tensor>& live_in) const {
    NSE_CHECK(live_in.size() == ids.size(), ErrorCode::InvalidArgument, "cut ", begin, " has ",
              ids.size(), " live tensor(s), got ", live_in.size());
    for (size_t i = 0; i < live_in.size(); ++i)
        NSE_CHECK(live_in[i].shape() == shapes[ids[i]], ErrorCode::InvalidArgument, "tensor '",
                  model_->tensor_name(ids[i]), "' at cut ", begin, " must have shape ",
                  shape_str(shapes[ids[i]]), ", got ", shape_str(live_in[i].shape()));
}

const Tensor& Executor::run(const Tensor& input) {
    single_input_.resize(1);
    if (single_input_[0].shape() != input.shape())
        single_input_[0] = Tensor::view(input.shape(), nullptr);
    single_input_[0].rebind(const_cast<float*>(input.data()));
    return run(0, model_->size(), single_input_)[first_output_];
}

std::unique_ptr<Executor> make_executor(std::shared_ptr<const Model> model,
                                        const DeviceOptions& options,
                                        std::shared_ptr<ThreadPool> pool) {
    check_device_available(options);
#ifdef NSE_HAVE_CUDA
    if (options.device == Device::Cuda)
        return make_cuda_runtime(std::move(model), options, std::move(pool));
#endif
    return std::make_unique<Runtime>(std::move(model), std::move(pool));
}

}  // namespace nse
