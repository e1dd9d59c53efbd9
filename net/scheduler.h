// The cloud's inference workers: a queue of INFER jobs and `workers` threads, each with its own
// kernel thread pool and one executor per model, computing the suffix of each job's model and
// encoding its RESULT. Dynamic batching: a worker runs queued jobs for the same model and cut
// together as one batch (up to ServerOptions::max_batch images, waiting up to
// max_queue_delay_us after the first job's arrival for more), and each job gets its own rows of
// the outputs. Also the cloud's load as published to edges (queued, running, predicted backlog).
// Knows nothing of sockets: a job carries the callbacks that deliver its reply.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/frame.h"
#include "net/server.h"

namespace nse::net {

struct JobTimes {
    uint64_t queue_us = 0, decode_us = 0, compute_us = 0;
    uint32_t batch = 1;  // images computed together with this job's (its own included)
};

struct Job {
    const ServedModel* served = nullptr;
    // What runs: the served model, or the one reordered for the request's node set.
    std::shared_ptr<const Model> model;
    uint32_t cut = 0;
    uint64_t request_id = 0;
    std::vector<Tensor> inputs;      // fp32 views, or buffers for the encoded tensors
    std::vector<WireTensor> wire;    // the request's tensors (encoded ones decode on the worker)
    std::shared_ptr<float> payload;  // owns the inputs' bytes
    uint16_t version = kProtocolVersion;  // the edge's protocol version, for the RESULT
    size_t in_bytes = 0;
    uint64_t receive_us = 0;
    RequestCost cost;         // predicted compute at each batch size, for the backlog estimate
    double predicted_ms = 0;  // its images' share of its batch's (set when a worker takes it)
    std::chrono::steady_clock::time_point queued_at;
    // Called on the worker's thread: with the RESULT frame and the request's log line (without
    // the peer), or with the reason it failed (bad_tensors for tensors that do not decode).
    std::function<void(std::shared_ptr<Frame>, std::string, JobTimes)> done;
    std::function<void(WireError, std::string)> failed;
};

class Scheduler {
  public:
    explicit Scheduler(const ServerOptions& opts) : opts_(opts) {}
    ~Scheduler();

    void start();  // starts the workers
    // Wakes the workers to finish (queued jobs are dropped); join() waits for them.
    void stop();
    void join();
    bool stopping();

    void enqueue(Job job);

    struct Load {
        uint32_t queued, running;
        uint64_t backlog_us;  // predicted wait for the next request, per worker
    };
    Load load();
    uint64_t served() const { return served_.load(); }
    uint64_t batches() const { return batches_.load(); }  // runs, each of one or more jobs

  private:
    struct Worker;
    void worker_main();
    Load load_locked() const;
    // Takes the queue's first job that no batch being filled would take and, with batching on,
    // the queued jobs that can run with it (waiting for more until its delay is spent); empty
    // when stopping.
    std::vector<Job> take_batch();
    // Whether `job` can join a batch of `model` at `cut` that holds `images` images.
    bool joins(const Model* model, uint32_t cut, int64_t images, const Job& job) const;
    // Whether a batch a worker is still filling would take `job` (then an idle worker leaves it).
    bool claimed(const Job& job) const;
    // Runs the jobs as one batch on this worker's executors and delivers each job's RESULT (or
    // its failure).
    void run_batch(std::vector<Job>& jobs, Worker& w);
    // The RESULT frame of one job and its log line.
    std::shared_ptr<Frame> result_frame(const Job& job, const Model& m, ResultReply& res,
                                        std::vector<std::shared_ptr<float>> outputs,
                                        std::string& line);
    void release(double predicted_ms, ResultReply* res);

    const ServerOptions& opts_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    int running_ = 0;
    double running_ms_ = 0;  // predicted compute of the running jobs' batches
    bool stopping_ = false;
    // The batches workers are filling (waiting out max_queue_delay_us for more jobs).
    struct Filling {
        const Model* model;
        uint32_t cut;
        int64_t images;
    };
    std::list<Filling> filling_;
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> served_{0}, batches_{0};
};

}  // namespace nse::net
