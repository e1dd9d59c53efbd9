// The deployment phase's memory ladder: how fast the pool's threads read buffers of growing size
// (what partition/memory.h makes its MemoryFacts from).
#pragma once

#include "base/thread_pool.h"
#include "partition/memory.h"

namespace nse {

// Reads buffers from 1/8 MB to 512 MB (steps of sqrt(2)) with the pool's threads (about two
// seconds). max_mb caps the largest buffer (tests); so does a quarter of the machine's memory.
MemoryFacts measure_memory(ThreadPool& pool, double max_mb = 512);

}  // namespace nse
