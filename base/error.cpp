#include "base/error.h"

#include <cstdio>
#include <cstdlib>

namespace nse {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::InvalidArgument:
            return "invalid_argument";
        case ErrorCode::InvalidModel:
            return "invalid_model";
        case ErrorCode::Io:
            return "io";
        case ErrorCode::Unsupported:
            return "unsupported";
        case ErrorCode::Network:
            return "network";
        case ErrorCode::Timeout:
            return "timeout";
        case ErrorCode::Internal:
            return "internal";
        case ErrorCode::Device:
            return "device";
    }
    return "unknown";
}

namespace detail {
void assert_fail(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "nsengine: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    std::abort();
}
}  // namespace detail

}  // namespace nse
