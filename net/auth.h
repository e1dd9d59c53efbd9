// Who may use the cloud: bearer tokens from a file (one per line, optionally limited to some
// models), checked in constant time; and a throttle that slows down an address after repeated
// failed attempts. Certificates (mutual TLS) are checked by TLS itself (net/tls.h).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace nse::net {

// Tokens as the cloud's --token-file lists them:
//   # comment
//   3f9c...e1                      any model
//   77ab...02 models=lenet,resnet18  only these
// A token is at least 16 printable characters without spaces (`openssl rand -hex 32` makes
// one). Only SHA-256 digests are kept.
class TokenStore {
  public:
    struct Grant {
        std::array<uint8_t, 32> digest;
        std::set<std::string> models;  // empty: every model
        int line = 0;                  // where the file lists it (logs name tokens by line)
        bool allows(const std::string& model) const {
            return models.empty() || models.count(model) > 0;
        }
    };

    // Throw Error(InvalidArgument) naming the file and line of anything malformed.
    static TokenStore load(const std::string& file);
    static TokenStore parse(const std::string& text, const std::string& where);

    // The grant of `token`, or null. Every stored token is compared, each in constant time.
    const Grant* find(const std::string& token) const;
    size_t size() const { return grants_.size(); }

  private:
    std::vector<Grant> grants_;
};

// The edge's token: the first token line of `file` (same format; models= is ignored).
std::string read_token(const std::string& file);

// A line to print when `file` can be read by users other than its owner; empty otherwise.
std::string token_file_warning(const std::string& file);

// Slows down an address that keeps failing to authenticate: the first two failures are answered
// at once, then each waits 0.25 s, 0.5 s, ... up to 8 s, queued behind the address's earlier
// answers (so parallel attempts do not escape it). Forgotten 10 minutes after the last failure,
// or on success. Used on the server's I/O thread only.
class AuthThrottle {
  public:
    using Clock = std::chrono::steady_clock;
    // Records a failure; returns how long to wait before answering it.
    Clock::duration failure(const std::string& address, Clock::time_point now = Clock::now());
    void success(const std::string& address) { entries_.erase(address); }
    int failures(const std::string& address) const;

  private:
    struct Entry {
        int count = 0;
        Clock::time_point last, next_answer;
    };
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace nse::net
