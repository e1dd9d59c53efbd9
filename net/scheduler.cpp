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
        queue_.push_back(std::move(job));
    }
    // A worker waiting to fill a batch may not want this job: wake them all so an idle one can.
    if (opts_.max_queue_delay_us > 0)
        cv_.notify_all();
    else
        cv_.notify_one();
}

Scheduler::Load Scheduler::load() {
    std::lock_guard<std::mutex> lock(mu_);
    return load_locked();
}

namespace {

const std::shared_ptr<const Model>& model_of(const Job& job) {
    return job.model ? job.model : job.served->model;
}

int64_t images(const Job& job) { return job.inputs.empty() ? 1 : job.inputs[0].dim(0); }

}  // namespace

Scheduler::Load Scheduler::load_locked() const {
    // The queued jobs as the batches they will run in: those of one model and cut together, up
    // to max_batch images a batch, each batch at its predicted cost.
    std::map<std::pair<const Model*, uint32_t>, std::pair<int64_t, const RequestCost*>> groups;
    for (const Job& job : queue_) {
        auto& g = groups[{model_of(job).get(), job.cut}];
        g.first += images(job);
        g.second = &job.cost;
    }
    double ms = running_ms_;
    for (const auto& [key, g] : groups) {
        const int64_t full = g.first / opts_.max_batch, rest = g.first % opts_.max_batch;
        ms += double(full) * g.second->at(opts_.max_batch) + g.second->at(rest);
    }
    return {uint32_t(queue_.size()), uint32_t(running_),
            uint64_t(std::max(0.0, ms) * 1e3 / opts_.workers)};
}

struct Scheduler::Worker {
    std::shared_ptr<ThreadPool> pool;
    // One executor per model (a reordered model lives as long as the server: its address is a
    // key).
    std::map<const Model*, std::unique_ptr<Executor>> runtimes;
    // A batch's inputs: views of one buffer that only grows, so batches of other cuts and sizes
    // allocate nothing once the largest has run.
    std::vector<Tensor> batched;
    std::shared_ptr<float> buffer;
    size_t capacity = 0;  // floats
};

bool Scheduler::joins(const Model* model, uint32_t cut, int64_t images_so_far,
                      const Job& job) const {
    return model_of(job).get() == model && job.cut == cut &&
           images_so_far + images(job) <= opts_.max_batch;
}

bool Scheduler::claimed(const Job& job) const {
    for (const Filling& f : filling_)
        if (joins(f.model, f.cut, f.images, job)) return true;
    return false;
}

std::vector<Job> Scheduler::take_batch() {
    std::vector<Job> jobs;
    std::unique_lock<std::mutex> lock(mu_);
    // The first queued job no batch being filled would take: enqueue wakes every worker, and an
    // idle one that took the job a filling batch waits for split that batch (four requests 40 ms
    // apart ran as batches of 1-3 in four of five tries with three workers).
    auto first = queue_.end();
    cv_.wait(lock, [&] {
        if (stopping_) return true;
        for (first = queue_.begin(); first != queue_.end() && claimed(*first);) ++first;
        return first != queue_.end();
    });
    if (stopping_) return jobs;
    jobs.push_back(std::move(*first));
    queue_.erase(first);
    ++running_;
    int64_t n = images(jobs[0]);
    const auto gather = [&] {
        for (auto it = queue_.begin(); it != queue_.end() && n < opts_.max_batch;) {
            if (!joins(model_of(jobs[0]).get(), jobs[0].cut, n, *it)) {
                ++it;
                continue;
            }
            n += images(*it);
            jobs.push_back(std::move(*it));
            it = queue_.erase(it);
            ++running_;
        }
    };
    gather();
    const auto deadline = jobs[0].queued_at + std::chrono::microseconds(opts_.max_queue_delay_us);
    if (n < opts_.max_batch && !stopping_ && Clock::now() < deadline) {
        const auto me =
            filling_.insert(filling_.end(), Filling{model_of(jobs[0]).get(), jobs[0].cut, n});
        while (n < opts_.max_batch && !stopping_ && Clock::now() < deadline) {
            cv_.wait_until(lock, deadline);
            gather();
            me->images = n;
        }
        filling_.erase(me);
        // What this batch leaves in the queue is free for an idle worker now.
        if (!queue_.empty()) cv_.notify_all();
    }
    // The batch's predicted compute, shared by its jobs by images.
    const double batch_ms = jobs[0].cost.at(n);
    for (Job& job : jobs) job.predicted_ms = batch_ms * double(images(job)) / double(n);
    running_ms_ += batch_ms;
    return jobs;
}

void Scheduler::release(double predicted_ms, ResultReply* res) {
    --running_;
    running_ms_ -= predicted_ms;
    if (!running_) running_ms_ = 0;  // (no rounding left behind)
    if (!res) return;
    const Load l = load_locked();
    res->queued = l.queued;
    res->running = l.running;
    res->backlog_us = l.backlog_us;
}

std::shared_ptr<Frame> Scheduler::result_frame(const Job& job, const Model& m, ResultReply& res,
                                               std::vector<std::shared_ptr<float>> outputs,
                                               std::string& line) {
    Outgoing out = encode_result(res, job.version);
    const uint64_t payload_bytes = out.payload_bytes();
    std::shared_ptr<Frame> frame = make_frame(MsgType::Result, job.request_id, std::move(out.head));
    FrameHeader h = decode_header(frame->header);
    h.payload_bytes = payload_bytes;
    encode_header(h, frame->header);
    frame->owned = std::move(outputs);
    for (size_t i = 0; i < out.data.size(); ++i) {
        frame->blocks.emplace_back(out.data[i], out.bytes[i]);
        if (const size_t pad = pad_after(out.bytes[i])) frame->blocks.emplace_back(kZeroPad, pad);
    }
    char buf[288];
    std::string wire = job.wire.empty() ? "fp32" : job.wire[0].encoding.name();
    for (const auto& t : job.wire)
        if (t.encoding.name() != wire) wire = "mixed";
    std::snprintf(buf, sizeof buf,
                  " %s cut=%u/%d%s in=%s wire=%s out=%s receive=%.2fms queue=%.2fms "
                  "decode=%.2fms compute=%.2fms batch=%u",
                  m.name().c_str(), job.cut, m.size(),
                  &m == job.served->model.get() ? "" : " (dag)", kb(job.in_bytes).c_str(),
                  wire.c_str(), kb(frame->head.size() + res.tensors[0].bytes()).c_str(),
                  res.receive_us / 1e3, res.queue_us / 1e3, res.decode_us / 1e3,
                  res.compute_us / 1e3, res.batch);
    line = buf;
    return frame;
}

void Scheduler::run_batch(std::vector<Job>& taken, Worker& w) {
    const auto t0 = Clock::now();
    const auto fail = [&](Job& job, const std::exception& e) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            release(job.predicted_ms, nullptr);
        }
        const auto* pe = dynamic_cast<const ProtocolError*>(&e);
        job.failed(pe ? pe->wire() : WireError::Internal, e.what());
    };
    // Each job's tensors decode on their own: one that does not fails alone.
    std::vector<Job> jobs;
    std::vector<uint64_t> decode_us;
    for (Job& job : taken) {
        const auto td = Clock::now();
        try {
            decode_infer_inputs(job.wire, job.inputs);
        } catch (const std::exception& e) {
            fail(job, e);
            continue;
        }
        decode_us.push_back(to_micros(Clock::now() - td));
        jobs.push_back(std::move(job));
    }
    if (jobs.empty()) return;
    const std::shared_ptr<const Model>& model = model_of(jobs[0]);
    const Model& m = *model;
    int64_t total = 0;
    for (const Job& job : jobs) total += images(job);
    std::vector<std::vector<std::shared_ptr<float>>> copies(jobs.size());
    std::vector<std::vector<Shape>> shapes(jobs.size());
    uint64_t compute_us = 0;
    const auto t1 = Clock::now();
    try {
        auto& rt = w.runtimes[&m];
        if (!rt) rt = make_executor(model, opts_.device, w.pool);
        const std::vector<Tensor>* inputs = &jobs[0].inputs;
        if (jobs.size() > 1) {  // the jobs' inputs one after another along the batch axis
            size_t floats = 0;
            for (const Tensor& t : jobs[0].inputs)
                floats += size_t(t.numel() / t.dim(0) * total) + 16;  // 64-byte aligned starts
            if (floats > w.capacity) {
                w.buffer = aligned_floats(floats);
                w.capacity = floats;
            }
            w.batched.clear();
            float* at = w.buffer.get();
            for (size_t i = 0; i < jobs[0].inputs.size(); ++i) {
                Shape s = jobs[0].inputs[i].shape();
                s[0] = total;
                w.batched.push_back(Tensor::view(s, at));
                at += (numel(s) + 15) / 16 * 16;
                float* dst = w.batched[i].data();
                for (const Job& job : jobs) {
                    std::memcpy(dst, job.inputs[i].data(), job.inputs[i].bytes());
                    dst += job.inputs[i].numel();
                }
            }
            inputs = &w.batched;
        }
        const std::vector<Tensor>& outs = rt->run(int(jobs[0].cut), m.size(), *inputs);
        compute_us = to_micros(Clock::now() - t1);
        // Each job's rows of the outputs are copied (a few KB for classifiers) so this worker
        // can take the next batch while the I/O thread sends the replies.
        for (const Tensor& o : outs) {
            const int64_t per_image = o.numel() / o.dim(0);
            const float* src = o.data();
            for (size_t j = 0; j < jobs.size(); ++j) {
                Shape s = o.shape();
                s[0] = images(jobs[j]);
                const size_t count = size_t(s[0] * per_image);
                copies[j].push_back(aligned_floats(count));
                std::memcpy(copies[j].back().get(), src, count * sizeof(float));
                src += count;
                shapes[j].push_back(s);
            }
        }
    } catch (const std::exception& e) {
        for (Job& job : jobs) fail(job, e);
        return;
    }
    std::vector<ResultReply> results(jobs.size());
    {
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t j = 0; j < jobs.size(); ++j) release(jobs[j].predicted_ms, &results[j]);
    }
    batches_.fetch_add(1);
    const std::vector<int> ids = m.live_at(m.size());
    for (size_t j = 0; j < jobs.size(); ++j) {
        ResultReply& res = results[j];
        res.receive_us = jobs[j].receive_us;
        res.queue_us = to_micros(t0 - jobs[j].queued_at);
        res.decode_us = decode_us[j];
        res.compute_us = compute_us;
        res.batch = uint32_t(total);
        for (size_t i = 0; i < copies[j].size(); ++i)
            res.tensors.push_back({m.tensor_name(ids[i]), shapes[j][i], copies[j][i].get()});
        std::string line;
        std::shared_ptr<Frame> frame = result_frame(jobs[j], m, res, std::move(copies[j]), line);
        served_.fetch_add(1);
        jobs[j].done(std::move(frame), std::move(line),
                     {res.queue_us, res.decode_us, res.compute_us, res.batch});
    }
}

void Scheduler::worker_main() {
    // Each worker has a pool of its own, so concurrent requests never share one.
    Worker w;
    w.pool = std::make_shared<ThreadPool>(opts_.threads);
    for (;;) {
        std::vector<Job> jobs = take_batch();
        if (jobs.empty()) return;
        run_batch(jobs, w);
    }
}

}  // namespace nse::net
