// Errors: NSE_ASSERT for programmer errors (aborts), nse::Error for bad input at the boundaries
// (files, network, command line), which callers turn into a one-line message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace nse {

enum class ErrorCode {
    InvalidArgument = 1,  // bad flag, bad shape handed in by a caller
    InvalidModel = 2,     // model file corrupt or inconsistent
    Io = 3,               // file missing or unreadable
    Unsupported = 4,      // valid request the engine cannot do
    Network = 5,          // connection, protocol or peer failure
    Timeout = 6,
    Internal = 7,
    Device = 8,  // a GPU runtime, cuDNN or cuBLAS call failed
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
  public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const { return code_; }

  private:
    ErrorCode code_;
};

namespace detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);

template <typename... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}
}  // namespace detail

// Throws nse::Error(code, message built from the remaining arguments) unless cond holds.
#define NSE_CHECK(cond, code, ...)                                                 \
    do {                                                                           \
        if (!(cond)) throw ::nse::Error(code, ::nse::detail::concat(__VA_ARGS__)); \
    } while (0)

#define NSE_ASSERT(cond)                                                    \
    do {                                                                    \
        if (!(cond)) ::nse::detail::assert_fail(#cond, __FILE__, __LINE__); \
    } while (0)

}  // namespace nse
