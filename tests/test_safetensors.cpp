// The safetensors reader on good, corrupted, truncated and inconsistent files: every problem is
// an nse::Error with a message that names it, never a crash.
#include "tests/test_helpers.h"

namespace nse::test {

namespace {
std::string good_file() {
    const std::string path = temp_path("good.safetensors");
    write_safetensors(path, {{"a", filled({2, 3})}, {"b", filled({4})}}, {{"k", "v"}});
    return path;
}
SafeTensors parse(const std::string& bytes) {
    return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), nullptr,
                             "test");
}
}  // namespace

TEST(Safetensors, RoundTrip) {
    SafeTensors st = read_safetensors(good_file());
    ASSERT_EQ(st.tensors.size(), 2u);
    EXPECT_EQ(st.tensors["a"].shape(), (Shape{2, 3}));
    EXPECT_EQ(st.tensors["a"].data()[5], filled({2, 3}).data()[5]);
    EXPECT_EQ(st.metadata["k"], "v");
}

TEST(Safetensors, MissingFile) {
    expect_error([] { read_safetensors("/nonexistent/x.safetensors"); }, "cannot open");
}

TEST(Safetensors, TooShortAndEmpty) {
    expect_error([] { parse(""); }, "too short");
    expect_error([] { parse("abc"); }, "too short");
}

TEST(Safetensors, HeaderLengthPastEnd) {
    std::string bytes = read_bytes(good_file());
    bytes[0] = char(0xff), bytes[1] = char(0xff);  // header length ~64 KB, file is smaller
    expect_error([&] { parse(bytes); }, "past the end");
    bytes[7] = char(0x7f);  // absurd length
    expect_error([&] { parse(bytes); }, "not plausible");
}

TEST(Safetensors, TruncatedData) {
    std::string bytes = read_bytes(good_file());
    for (size_t cut : {bytes.size() - 1, bytes.size() - 20}) {
        expect_error([&] { parse(bytes.substr(0, cut)); }, "outside");
    }
}

TEST(Safetensors, TruncatedEverywhereNeverCrashes) {
    const std::string bytes = read_bytes(good_file());
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
        EXPECT_THROW(parse(bytes.substr(0, cut)), Error) << "cut at " << cut;
    }
}

TEST(Safetensors, BadJson) {
    expect_error([] { parse(raw_file("{not json", "")); }, "not valid JSON");
    expect_error([] { parse(raw_file("[1, 2]", "")); }, "not a JSON object");
}

TEST(Safetensors, BadFields) {
    expect_error(
        [] {
            parse(
                raw_file(R"({"a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})", "xx"));
        },
        "dtype F16");
    expect_error(
        [] {
            parse(raw_file(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
                           "xxxx"));
        },
        "non-negative");
    expect_error(
        [] {
            parse(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})",
                           "xxxx"));
        },
        "needs 8 bytes");
    expect_error([] { parse(raw_file(R"({"a": {"dtype": "F32", "shape": [1]}})", "xxxx")); },
                 "needs dtype, shape and data_offsets");
    expect_error(
        [] {
            parse(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})",
                           "xxxx"));
        },
        "outside");
    expect_error([] { parse(raw_file(R"({"__metadata__": {"k": 1}})", "")); }, "not a string");
    expect_error(
        [] {
            parse(raw_file(
                R"({"a": {"dtype": "F32", "shape": [1099511627776, 1099511627776, 1099511627776], "data_offsets": [0, 4]}})",
                "xxxx"));
        },
        "too large");
}

TEST(Safetensors, OverlappingTensors) {
    expect_error(
        [] {
            parse(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                           std::string(12, 'x')));
        },
        "share bytes");
}

TEST(Safetensors, RandomByteFlipsNeverCrash) {
    const std::string bytes = read_bytes(good_file());
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
        std::string b = bytes;
        const int flips = 1 + int(rng() % 4);
        for (int f = 0; f < flips; ++f) b[rng() % b.size()] = char(rng());
        try {
            parse(b);
        } catch (const Error&) {
        }
    }
}

}  // namespace nse::test
