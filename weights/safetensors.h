// Reading and writing safetensors files: u64 little-endian header length, a JSON header that maps
// tensor names to {dtype, shape, data_offsets} plus an optional string map "__metadata__", then
// the raw little-endian tensor bytes. The reader maps the file and checks every field, offset and
// size; any problem becomes an nse::Error(InvalidModel) naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/tensor.h"

namespace nse {

struct SafeTensors {
    std::map<std::string, Tensor> tensors;  // views into the mapped file (or aligned copies)
    std::map<std::string, std::string> metadata;
    uint64_t file_bytes = 0;
};

// Largest header the reader accepts; real model headers are a few hundred KB at most.
constexpr uint64_t kMaxSafetensorsHeader = 64ull << 20;

SafeTensors read_safetensors(const std::string& path);
// Parses an in-memory file image (same checks); `keep_alive` owns `data`.
SafeTensors parse_safetensors(const uint8_t* data, uint64_t size, std::shared_ptr<void> keep_alive,
                              const std::string& name);

// A fast 64-bit hash of a whole file's bytes, used to check that edge and cloud hold the same
// model file. Not cryptographic. Throws Error(Io).
uint64_t file_content_hash(const std::string& path);

// Writes F32 tensors and string metadata; the header is padded to a multiple of 8 bytes.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace nse
