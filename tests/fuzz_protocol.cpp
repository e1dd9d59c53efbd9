// libFuzzer target for the wire protocol decoders (built with -DNSE_BUILD_FUZZERS=ON and clang;
// run with tools/fuzz.sh). ctest replays a generated corpus through the same code instead.
#include "tests/protocol_fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        nse::test::fuzz_one(data, size, nullptr);
    } catch (const nse::Error&) {
    }
    // The tensor decoders alone (an INFER only reaches them with a served model's hash): byte 0
    // picks the encoding, bytes 1-3 a shape up to 1x16x16x64, the rest is what arrived.
    if (size >= 4) {
        try {
            const auto& all = nse::net::all_encodings();
            const nse::Shape shape{1, 1 + data[1] % 16, 1 + data[2] % 16, 1 + data[3] % 64};
            std::vector<float> out(size_t(nse::numel(shape)));
            nse::net::decode_tensor(data + 4, size - 4, shape, all[data[0] % all.size()],
                                    out.data());
        } catch (const nse::Error&) {
        }
    }
    return 0;
}
