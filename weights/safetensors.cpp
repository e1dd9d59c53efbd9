#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/error.h"

namespace nse {

namespace {

struct MappedFile {
    void* addr = MAP_FAILED;
    size_t size = 0;
    ~MappedFile() {
        if (addr != MAP_FAILED) munmap(addr, size);
    }
};

constexpr int64_t kMaxRank = 8;

int64_t checked_dim(const nlohmann::json& d, const std::string& where) {
    NSE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
              ErrorCode::InvalidModel, where, ": shape entries must be non-negative integers");
    int64_t v = d.get<int64_t>();
    NSE_CHECK(v <= (int64_t(1) << 40), ErrorCode::InvalidModel, where, ": dimension ", v,
              " is absurdly large");
    return v;
}

}  // namespace

SafeTensors parse_safetensors(const uint8_t* data, uint64_t size, std::shared_ptr<void> keep_alive,
                              const std::string& name) {
    NSE_CHECK(size >= 8, ErrorCode::InvalidModel, name, ": file is ", size,
              " bytes, too short for a safetensors header");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
    NSE_CHECK(header_len >= 2 && header_len <= kMaxSafetensorsHeader, ErrorCode::InvalidModel, name,
              ": header length ", header_len, " is not plausible (not a safetensors file?)");
    NSE_CHECK(header_len <= size - 8, ErrorCode::InvalidModel, name, ": header length ", header_len,
              " runs past the end of the ", size, "-byte file (truncated?)");
    const char* hdr = reinterpret_cast<const char*>(data + 8);
    nlohmann::json header = nlohmann::json::parse(hdr, hdr + header_len, nullptr, false);
    NSE_CHECK(!header.is_discarded(), ErrorCode::InvalidModel, name, ": header is not valid JSON");
    NSE_CHECK(header.is_object(), ErrorCode::InvalidModel, name, ": header is not a JSON object");

    SafeTensors st;
    st.file_bytes = size;
    const uint8_t* body = data + 8 + header_len;
    const uint64_t body_size = size - 8 - header_len;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& key = it.key();
        const nlohmann::json& v = it.value();
        if (key == "__metadata__") {
            NSE_CHECK(v.is_object(), ErrorCode::InvalidModel, name,
                      ": __metadata__ must be an object of strings");
            for (auto m = v.begin(); m != v.end(); ++m) {
                NSE_CHECK(m.value().is_string(), ErrorCode::InvalidModel, name, ": metadata '",
                          m.key(), "' is not a string");
                st.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = name + ": tensor '" + key + "'";
        NSE_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") &&
                      v.contains("data_offsets"),
                  ErrorCode::InvalidModel, where, " needs dtype, shape and data_offsets");
        NSE_CHECK(v["dtype"].is_string(), ErrorCode::InvalidModel, where,
                  ": dtype is not a string");
        const std::string dtype = v["dtype"].get<std::string>();
        NSE_CHECK(dtype == "F32", ErrorCode::InvalidModel, where, " has dtype ", dtype,
                  "; nsengine reads F32 only");
        const nlohmann::json& jshape = v["shape"];
        NSE_CHECK(jshape.is_array() && jshape.size() <= kMaxRank, ErrorCode::InvalidModel, where,
                  ": shape must be an array of at most ", kMaxRank, " dimensions");
        Shape shape;
        for (const auto& d : jshape) shape.push_back(checked_dim(d, where));
        const nlohmann::json& off = v["data_offsets"];
        NSE_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                      off[1].is_number_unsigned(),
                  ErrorCode::InvalidModel, where,
                  ": data_offsets must be two non-negative integers");
        const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
        NSE_CHECK(begin <= end && end <= body_size, ErrorCode::InvalidModel, where,
                  ": data_offsets [", begin, ", ", end, ") lie outside the ", body_size,
                  "-byte data section (truncated file?)");
        uint64_t expected = sizeof(float);
        for (int64_t d : shape) {
            NSE_CHECK(d == 0 || expected <= UINT64_MAX / static_cast<uint64_t>(d),
                      ErrorCode::InvalidModel, where, ": shape ", shape_str(shape),
                      " is too large");
            expected *= static_cast<uint64_t>(d);
        }
        NSE_CHECK(expected == end - begin, ErrorCode::InvalidModel, where, ": shape ",
                  shape_str(shape), " needs ", expected, " bytes but data_offsets hold ",
                  end - begin);
        ranges.emplace_back(begin, end);
        const uint8_t* src = body + begin;
        if (reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
            st.tensors[key] = Tensor::view(
                shape, const_cast<float*>(reinterpret_cast<const float*>(src)), keep_alive);
        } else {  // Unaligned data (legal in safetensors): copy into aligned memory.
            Tensor t = Tensor::zeros(shape);
            std::memcpy(t.data(), src, end - begin);
            st.tensors[key] = t;
        }
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        NSE_CHECK(ranges[i].first >= ranges[i - 1].second, ErrorCode::InvalidModel, name,
                  ": two tensors share bytes [", ranges[i].first, ", ", ranges[i - 1].second, ")");
    return st;
}

SafeTensors read_safetensors(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    NSE_CHECK(fd >= 0, ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ::close(fd);
        throw Error(ErrorCode::Io, path + ": not a regular file");
    }
    auto mapped = std::make_shared<MappedFile>();
    mapped->size = static_cast<size_t>(sb.st_size);
    if (mapped->size > 0) mapped->addr = mmap(nullptr, mapped->size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    NSE_CHECK(mapped->size == 0 || mapped->addr != MAP_FAILED, ErrorCode::Io, path,
              ": cannot map: ", std::strerror(errno));
    const uint8_t* data = mapped->size ? static_cast<const uint8_t*>(mapped->addr)
                                       : reinterpret_cast<const uint8_t*>("");
    return parse_safetensors(data, mapped->size, mapped, path);
}

uint64_t file_content_hash(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    NSE_CHECK(fd >= 0, ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
    struct stat sb;
    fstat(fd, &sb);
    const size_t size = static_cast<size_t>(sb.st_size);
    void* addr = size ? mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
    ::close(fd);
    NSE_CHECK(size == 0 || addr != MAP_FAILED, ErrorCode::Io, path, ": cannot map");
    const uint8_t* p = static_cast<const uint8_t*>(addr);
    // Four independent multiply-xorshift lanes over 8-byte words, then the tail and the size.
    uint64_t lane[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                        0x27d4eb2f165667c5ull};
    auto mix = [](uint64_t h, uint64_t w) {
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        return h ^ (h >> 32);
    };
    size_t i = 0;
    for (; i + 32 <= size; i += 32)
        for (int l = 0; l < 4; ++l) {
            uint64_t w;
            std::memcpy(&w, p + i + 8 * l, 8);
            lane[l] = mix(lane[l], w);
        }
    uint64_t h = size;
    for (; i < size; ++i) h = mix(h, p[i]);
    for (uint64_t l : lane) h = mix(h, l);
    if (size) munmap(addr, size);
    return h;
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        header[name] = {
            {"dtype", "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.bytes()}}};
        offset += t.bytes();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    NSE_CHECK(out.good(), ErrorCode::Io, path, ": cannot write");
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors)
        out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.bytes()));
    NSE_CHECK(out.good(), ErrorCode::Io, path, ": write failed");
}

}  // namespace nse
