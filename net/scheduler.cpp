#include "net/scheduler.h"

#include <cstdio>
#include <cstring>
#include <map>

#include "base/thread_pool.h"

namespace nse::net {

namespace {

using Clock = std::chrono::steady_clock;

std::string kb(size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fKB", bytes / 1000.0);  // 1 KB = 1000 B, as the CLI prints
    return buf;
}

}  // namespace

Scheduler::~Scheduler() {
    stop();
    join();
}

void Scheduler::start() {
    for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { worker_main(); });
}

void Scheduler::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
}

void Scheduler::join() {
    for (auto& t : workers_)
        if (t.joinable()) t.join();
}

bool Scheduler::stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
}

void Scheduler::enqueue(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        backlog_ms_ += job.predicted_ms;
        queue_.push_back(std::move(job));
    }
    cv_.notify_one();
}

Scheduler::Load Scheduler::load() {
    std::lock_guard<std::mutex> lock(mu_);
    return load_locked();
}

Scheduler::Load Scheduler::load_locked() const {
    return {uint32_t(queue_.size()), uint32_t(running_),
            uint64_t(std::max(0.0, backlog_ms_) * 1e3 / opts_.workers)};
}

std::shared_ptr<Frame> Scheduler::compute(Job& job,
                                          std::map<const Model*, std::unique_ptr<Executor>>& rts,
                                          const std::shared_ptr<ThreadPool>& pool,
                                          std::string& line, JobTimes& times, bool& released) {
    const std::shared_ptr<const Model>& model = job.model ? job.model : job.served->model;
    const Model& m = *model;
    auto& rt = rts[&m];  // a reordered model lives as long as the server: its address is a key
    ResultReply res;
    res.receive_us = job.receive_us;
    const auto t0 = Clock::now();
    res.queue_us = to_micros(t0 - job.queued_at);
    decode_infer_inputs(job.wire, job.inputs);
    const auto t1 = Clock::now();
    res.decode_us = to_micros(t1 - t0);
    if (!rt) rt = make_executor(model, opts_.device, pool);
    const std::vector<Tensor>& outs = rt->run(int(job.cut), m.size(), job.inputs);
    res.compute_us = to_micros(Clock::now() - t1);
    times = {res.queue_us, res.decode_us, res.compute_us};
    // The outputs are copied (they are a few KB for classifiers) so this worker can take the
    // next job while the I/O thread sends the reply.
    std::vector<std::shared_ptr<float>> copies;
    const std::vector<int> ids = m.live_at(m.size());
    for (size_t i = 0; i < outs.size(); ++i) {
        copies.push_back(aligned_floats(size_t(outs[i].numel())));
        std::memcpy(copies.back().get(), outs[i].data(), outs[i].bytes());
        res.tensors.push_back({m.tensor_name(ids[i]), outs[i].shape(), copies.back().get()});
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        --running_;
        backlog_ms_ -= job.predicted_ms;
        released = true;
        const Load l = load_locked();
        res.queued = l.queued;
        res.running = l.running;
        res.backlog_us = l.backlog_us;
    }
    Outgoing out = encode_result(res, job.version);
    const uint64_t payload_bytes = out.payload_bytes();
    std::shared_ptr<Frame> frame = make_frame(MsgType::Result, job.request_id, std::move(out.head));
    FrameHeader h = decode_header(frame->header);
    h.payload_bytes = payload_bytes;
    encode_header(h, frame->header);
    frame->owned = std::move(copies);
    for (size_t i = 0; i < out.data.size(); ++i) {
        frame->blocks.emplace_back(out.data[i], out.bytes[i]);
        if (const size_t pad = pad_after(out.bytes[i])) frame->blocks.emplace_back(kZeroPad, pad);
    }
    char buf[256];
    std::string wire = job.wire.empty() ? "fp32" : job.wire[0].encoding.name();
    for (const auto& t : job.wire)
        if (t.encoding.name() != wire) wire = "mixed";
    std::snprintf(buf, sizeof buf,
                  " %s cut=%u/%d%s in=%s wire=%s out=%s receive=%.2fms queue=%.2fms "
                  "decode=%.2fms compute=%.2fms",
                  m.name().c_str(), job.cut, m.size(),
                  &m == job.served->model.get() ? "" : " (dag)", kb(job.in_bytes).c_str(),
                  wire.c_str(), kb(frame->head.size() + res.tensors[0].bytes()).c_str(),
                  res.receive_us / 1e3, res.queue_us / 1e3, res.decode_us / 1e3,
                  res.compute_us / 1e3);
    line = buf;
    return frame;
}

void Scheduler::worker_main() {
    // Each worker has a pool of its own, so concurrent requests never share one.
    auto pool = std::make_shared<ThreadPool>(opts_.threads);
    std::map<const Model*, std::unique_ptr<Executor>> runtimes;
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            ++running_;
        }
        std::shared_ptr<Frame> frame;
        std::string line;
        JobTimes times;
        bool released = false;  // the job no longer counts as running
        try {
            frame = compute(job, runtimes, pool, line, times, released);
        } catch (const std::exception& e) {
            if (!released) {
                std::lock_guard<std::mutex> lock(mu_);
                --running_;
                backlog_ms_ -= job.predicted_ms;
            }
            const auto* pe = dynamic_cast<const ProtocolError*>(&e);
            job.failed(pe ? pe->wire() : WireError::Internal, e.what());
            continue;
        }
        served_.fetch_add(1);
        job.done(std::move(frame), std::move(line), times);
    }
}

}  // namespace nse::net
