// What a partition costs in the linear model the minimum cut solves (partition/dag_cut.h): each
// node's time on its side plus the price of every byte that crosses. For the DAG-cut tests.
#pragma once

#include <vector>

#include "partition/dag_cut.h"

namespace nse::test {

inline double partition_cost(const Model& m, const NodeSet& edge, const std::vector<double>& e,
                             const std::vector<double>& c, double price) {
    double total = price * double(crossing_bytes(m, edge));
    for (int i = 0; i < m.size(); ++i) total += edge[size_t(i)] ? e[size_t(i)] : c[size_t(i)];
    return total;
}

}  // namespace nse::test
