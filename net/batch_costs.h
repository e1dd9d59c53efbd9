// What the cloud's profile predicts a request costs when it runs in a batch: the backlog the
// cloud publishes counts queued requests as the batches they will run in (net/scheduler.h).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model.h"
#include "partition/dag_cut.h"
#include "partition/profile.h"

namespace nse::net {

// A request's predicted compute (ms, the profile's time) at a few batch sizes, linear between
// them.
struct RequestCost {
    std::vector<int64_t> sizes;  // ascending, from 1
    std::vector<double> ms;      // the whole batch's compute at each size
    // A batch of `images` (0 costs nothing; beyond the largest size, linear in the last two).
    double at(int64_t images) const;
};

// One served model's predictions at batch sizes 1, 2, 4, ... up to at least max_batch.
class BatchCosts {
  public:
    BatchCosts() = default;  // no profile: every request costs 0
    BatchCosts(const Model& model, const DeviceProfile& profile, int max_batch);

    bool empty() const { return sizes_.empty(); }
    // Nodes [cut, n) at batch 1: what edges are told of each cut.
    double suffix_ms(uint32_t cut) const { return empty() ? 0 : suffix_[0][cut]; }
    // A request at a position cut, or with the edge's node set `edge` (null: a position).
    RequestCost request(uint32_t cut, const NodeSet* edge) const;

  private:
    std::vector<int64_t> sizes_;
    std::vector<std::vector<double>> node_ms_;  // per size, per node
    std::vector<std::vector<double>> suffix_;   // per size, per cut
};

}  // namespace nse::net
