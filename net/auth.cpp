#include "net/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "base/error.h"

namespace nse::net {

namespace {

std::array<uint8_t, 32> digest(const std::string& s) {
    std::array<uint8_t, 32> d;
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
    return d;
}

std::string read_file(const std::string& file) {
    std::ifstream f(file, std::ios::binary);
    NSE_CHECK(f.good(), ErrorCode::InvalidArgument, "cannot read token file ", file);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

constexpr size_t kMinToken = 16, kMaxToken = 1024;

}  // namespace

TokenStore TokenStore::parse(const std::string& text, const std::string& where) {
    TokenStore store;
    std::stringstream in(text);
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::stringstream words(line);
        std::string token;
        if (!(words >> token) || token[0] == '#') continue;
        const std::string at = where + ":" + std::to_string(line_no);
        NSE_CHECK(token.size() >= kMinToken && token.size() <= kMaxToken,
                  ErrorCode::InvalidArgument, at, ": a token must have ", kMinToken, " to ",
                  kMaxToken, " characters (make one with: openssl rand -hex 32)");
        for (char c : token)
            NSE_CHECK(c > ' ' && c < 127, ErrorCode::InvalidArgument, at,
                      ": a token is printable ASCII without spaces");
        Grant g{digest(token), {}, line_no};
        for (std::string option; words >> option;) {
            NSE_CHECK(option.rfind("models=", 0) == 0 && option.size() > 7,
                      ErrorCode::InvalidArgument, at,
                      ": expected models=a,b after the token, got '", option, "'");
            std::stringstream names(option.substr(7));
            for (std::string m; std::getline(names, m, ',');)
                if (!m.empty()) g.models.insert(m);
        }
        for (const Grant& other : store.grants_)
            NSE_CHECK(other.digest != g.digest, ErrorCode::InvalidArgument, at,
                      ": the same token as line ", other.line);
        store.grants_.push_back(std::move(g));
    }
    NSE_CHECK(!store.grants_.empty(), ErrorCode::InvalidArgument, where, " lists no token");
    return store;
}

TokenStore TokenStore::load(const std::string& file) { return parse(read_file(file), file); }

const TokenStore::Grant* TokenStore::find(const std::string& token) const {
    const std::array<uint8_t, 32> d = digest(token);
    const Grant* found = nullptr;
    for (const Grant& g : grants_)  // no early exit: the time does not say which matched
        if (CRYPTO_memcmp(g.digest.data(), d.data(), d.size()) == 0) found = &g;
    return found;
}

std::string read_token(const std::string& file) {
    const std::string text = read_file(file);
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::stringstream words(line);
        std::string token;
        if (!(words >> token) || token[0] == '#') continue;
        NSE_CHECK(token.size() >= kMinToken && token.size() <= kMaxToken,
                  ErrorCode::InvalidArgument, "token file ", file, ": a token must have ",
                  kMinToken, " to ", kMaxToken, " characters");
        return token;
    }
    throw Error(ErrorCode::InvalidArgument, "token file " + file + " holds no token");
}

std::string token_file_warning(const std::string& file) {
    struct stat st;
    if (stat(file.c_str(), &st) != 0 || !(st.st_mode & 077)) return "";
    return "warning: token file " + file +
           " can be read by other users of this machine (chmod 600 " + file + ")";
}

AuthThrottle::Clock::duration AuthThrottle::failure(const std::string& address,
                                                    Clock::time_point now) {
    constexpr auto kForget = std::chrono::minutes(10);
    if (entries_.size() > 4096)  // bounded: drop what has been quiet long enough
        for (auto it = entries_.begin(); it != entries_.end();)
            it = now - it->second.last > kForget ? entries_.erase(it) : std::next(it);
    Entry& e = entries_[address];
    if (e.count && now - e.last > kForget) e = Entry{};
    ++e.count;
    e.last = now;
    if (e.count <= 2) return Clock::duration::zero();
    const double seconds = std::min(8.0, 0.25 * double(1 << std::min(e.count - 3, 6)));
    const auto delay =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    e.next_answer = std::max(now, e.next_answer) + delay;
    return std::min<Clock::duration>(e.next_answer - now, std::chrono::seconds(30));
}

int AuthThrottle::failures(const std::string& address) const {
    auto it = entries_.find(address);
    return it == entries_.end() ? 0 : it->second.count;
}

}  // namespace nse::net
