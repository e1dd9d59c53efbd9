// libFuzzer target for the wire protocol decoders (built with -DNSE_BUILD_FUZZERS=ON and clang;
// run with tools/fuzz.sh). ctest replays a generated corpus through the same code instead.
#include "tests/protocol_fuzz_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        nse::test::fuzz_one(data, size, nullptr);
    } catch (const nse::Error&) {
    }
    return 0;
}
