// Who may use a cloud, and what an operator sees of it: token files parsed strictly, tokens
// required before any PROBE or INFER, per-token model allow-lists, repeated failures slowed
// down; /healthz, /readyz and /metrics over HTTP, with counters that move as requests are served.
#include <chrono>
#include <fstream>
#include <thread>

#include "net/auth.h"
#include "net/metrics.h"
#include "tests/net_helpers.h"
#include "tests/net_test_util.h"

namespace nse::test {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return line;
}

std::shared_ptr<TokenStore> test_tokens() {
    return std::make_shared<TokenStore>(TokenStore::load(tls_file("tokens")));
}

// A blocking HTTP/1.1 exchange with the metrics endpoint: the status code and the body.
std::pair<int, std::string> http(uint16_t port, const std::string& request) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::error_code ec;
    asio::write(s, asio::buffer(request), ec);
    std::string response;
    char buf[4096];
    for (;;) {
        const size_t n = s.read_some(asio::buffer(buf), ec);
        response.append(buf, n);
        if (ec) break;
    }
    if (response.rfind("HTTP/1.1 ", 0) != 0) return {0, response};
    const size_t body = response.find("\r\n\r\n");
    return {std::stoi(response.substr(9, 3)),
            body == std::string::npos ? "" : response.substr(body + 4)};
}

std::pair<int, std::string> get(uint16_t port, const std::string& path) {
    return http(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// The value of the sample `series` (name with labels, exactly as exposed), or -1.
double sample(const std::string& text, const std::string& series) {
    const size_t at = text.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
}

}  // namespace

TEST(Tokens, FileFormatIsStrictAndNamesTheLine) {
    const std::string good(32, 'a'), other(32, 'b');
    TokenStore s =
        TokenStore::parse("# c\n\n" + good + "\n" + other + " models=lenet,vgg16\n", "f");
    EXPECT_EQ(s.size(), 2u);
    ASSERT_NE(s.find(good), nullptr);
    EXPECT_TRUE(s.find(good)->allows("resnet50"));
    ASSERT_NE(s.find(other), nullptr);
    EXPECT_EQ(s.find(other)->line, 4);
    EXPECT_TRUE(s.find(other)->allows("vgg16"));
    EXPECT_FALSE(s.find(other)->allows("resnet50"));
    EXPECT_EQ(s.find(good + "x"), nullptr);
    EXPECT_EQ(s.find(""), nullptr);
    auto refused = [](const std::string& text, const std::string& says) {
        try {
            TokenStore::parse(text, "f");
            ADD_FAILURE() << "accepted: " << text;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
        }
    };
    refused("short\n", "f:1: a token must have 16");
    refused("# nothing\n", "lists no token");
    refused(good + " model=lenet\n", "f:1: expected models=");
    refused(good + "\n" + good + "\n", "f:2: the same token as line 1");
    refused(good + "\x01x\n", "printable");
    EXPECT_THROW(TokenStore::load("/nonexistent/tokens"), Error);
    EXPECT_EQ(read_token(tls_file("token-good")), read_text(tls_file("token-good")));
}

TEST(Tokens, ThrottleSlowsRepeatedFailuresFromOneAddress) {
    using Clock = AuthThrottle::Clock;
    using std::chrono::milliseconds;
    AuthThrottle t;
    const Clock::time_point t0{};
    auto ms = [](Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
    EXPECT_EQ(ms(t.failure("a", t0)), 0);
    EXPECT_EQ(ms(t.failure("a", t0)), 0);
    EXPECT_EQ(ms(t.failure("a", t0)), 250);
    EXPECT_EQ(ms(t.failure("a", t0)), 750);  // queued behind the previous answer
    EXPECT_EQ(ms(t.failure("b", t0)), 0);    // another address is not affected
    const Clock::time_point later = t0 + std::chrono::seconds(60);
    EXPECT_EQ(ms(t.failure("a", later)), 1000);
    for (int i = 0; i < 20; ++i) t.failure("a", later);
    EXPECT_EQ(ms(t.failure("a", later)), 30000);  // each step at most 8 s, the queue 30 s
    t.success("a");
    EXPECT_EQ(t.failures("a"), 0);
    EXPECT_EQ(ms(t.failure("a", later)), 0);
    EXPECT_EQ(ms(t.failure("b", t0 + std::chrono::minutes(11))), 0);  // forgotten: count 1
    EXPECT_EQ(t.failures("b"), 1);
}

class TokenCloud : public ::testing::Test {
  protected:
    void SetUp() override {
        lenet_ = serve("lenet");
        mobilenet_ = serve("mobilenet_v2");
        ServerOptions so = server_options();
        so.tokens = test_tokens();
        so.metrics_port = 0;
        cloud_ =
            std::make_unique<BackgroundServer>(so, std::vector<ServedModel>{lenet_, mobilenet_});
    }
    ClientOptions with_token(const std::string& file) {
        ClientOptions co = client_for(cloud_->port());
        if (!file.empty()) co.token = read_token(tls_file(file));
        return co;
    }
    // The edge's fallback reason for one request of `m` with the token in `file` (empty: none).
    std::string refused(const ServedModel& m, const std::string& file) {
        EdgeRunner edge(m.model, m.hash, with_token(file), current_test_pool());
        EdgeReport r;
        const Tensor x = reference_input(*m.model);
        const Tensor& y = edge.infer(x, 2, r);
        EXPECT_FALSE(r.offloaded);
        EXPECT_TRUE(same_bytes(y, local_output(m.model, x)));
        return r.fallback_reason;
    }
    ServedModel lenet_, mobilenet_;
    std::unique_ptr<BackgroundServer> cloud_;
};

TEST_F(TokenCloud, AGoodTokenIsServedAndSeesEveryModel) {
    CloudClient client(with_token("token-good"));
    const nlohmann::json ack = client.connect({{"client", "test"}});
    EXPECT_EQ(ack.at("models").size(), 2u);
    EdgeRunner edge(lenet_.model, lenet_.hash, with_token("token-good"), current_test_pool(), true);
    EdgeReport r;
    edge.infer(reference_input(*lenet_.model), 2, r);
    EXPECT_TRUE(r.offloaded);
}

TEST_F(TokenCloud, ALimitedTokenSeesAndUsesOnlyItsModels) {
    CloudClient client(with_token("token-limited"));
    const nlohmann::json ack = client.connect({{"client", "test"}});
    ASSERT_EQ(ack.at("models").size(), 1u);  // mobilenet_v2's hash is not shown to it
    EXPECT_EQ(ack.at("models")[0].at("name"), "lenet");
    EdgeRunner edge(lenet_.model, lenet_.hash, with_token("token-limited"), current_test_pool(),
                    true);
    EdgeReport r;
    edge.infer(reference_input(*lenet_.model), 2, r);
    EXPECT_TRUE(r.offloaded);
    const std::string why = refused(mobilenet_, "token-limited");
    EXPECT_NE(why.find("ERROR forbidden: this token may not use model 'mobilenet_v2'"),
              std::string::npos)
        << why;
}

TEST_F(TokenCloud, NoTokenOrAWrongOneIsRefusedWithTheCause) {
    std::string why = refused(lenet_, "");
    EXPECT_NE(why.find("ERROR unauthorized: this cloud requires a token"), std::string::npos)
        << why;
    why = refused(lenet_, "token-wrong");
    EXPECT_NE(why.find("ERROR unauthorized: the token was not accepted"), std::string::npos) << why;
    // No HELLO at all: a PROBE or an INFER is refused too.
    RawClient c(cloud_->port());
    c.send_frame(MsgType::Probe, std::vector<uint8_t>(64, 0));
    c.expect_error_then_close(WireError::Unauthorized);
    EXPECT_EQ(cloud_->server().requests_served(), 0u);
    const std::string m = cloud_->server().metrics_text();
    EXPECT_EQ(sample(m, "nsengine_auth_failures_total{reason=\"token_missing\"}"), 2);
    EXPECT_EQ(sample(m, "nsengine_auth_failures_total{reason=\"token_unknown\"}"), 1);
}

TEST_F(TokenCloud, RepeatedFailuresAreAnsweredSlower) {
    auto timed_failure = [&] {
        CloudClient client(with_token("token-wrong"));
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_THROW(client.connect({{"client", "test"}}), RemoteError);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const double first = timed_failure();
    timed_failure();
    const double third = timed_failure();
    EXPECT_LT(first, 0.2);
    EXPECT_GE(third, 0.24);  // the throttle's first step is 0.25 s
    // A good token from the same address is still served, at once.
    CloudClient good(with_token("token-good"));
    const auto t0 = std::chrono::steady_clock::now();
    good.connect({{"client", "test"}});
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.2);
}

TEST(Metrics, ExpositionEscapesLabelsAndCountsCumulatively) {
    Metrics m;
    m.request("a\"b", 3, "ok", 0.001, 0.0002, 0.02);
    m.request("a\"b", 3, "ok", 0.001, 0.0002, 20);
    const std::string t = m.exposition({});
    EXPECT_EQ(sample(t, "nsengine_requests_total{model=\"a\\\"b\",cut=\"3\",outcome=\"ok\"}"), 2);
    EXPECT_EQ(sample(t, "nsengine_compute_seconds_bucket{model=\"a\\\"b\",le=\"0.025\"}"), 1);
    EXPECT_EQ(sample(t, "nsengine_compute_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"}"), 2);
    EXPECT_DOUBLE_EQ(sample(t, "nsengine_compute_seconds_sum{model=\"a\\\"b\"}"), 20.02);
    EXPECT_EQ(prometheus_escape("x\\y\n"), "x\\\\y\\n");
}

TEST(Metrics, HealthReadinessAndCountersOverHttp) {
    ServedModel lenet = serve("lenet");
    ServerOptions so = server_options();
    so.ready = false;
    so.metrics_port = 0;
    BackgroundServer cloud(so, {lenet});
    const uint16_t port = cloud.server().metrics_port();
    ASSERT_NE(port, 0);
    EXPECT_EQ(get(port, "/healthz"), std::make_pair(200, std::string("ok\n")));
    cloud.server().set_progress(30);
    auto ready = get(port, "/readyz");
    EXPECT_EQ(ready.first, 503);
    EXPECT_NE(ready.second.find("30 % done"), std::string::npos) << ready.second;
    EXPECT_EQ(sample(get(port, "/metrics").second, "nsengine_ready"), 0);
    cloud.server().set_profile(constant_profile(0.01));
    EXPECT_EQ(get(port, "/readyz?verbose=1").first, 200);

    const Tensor x = reference_input(*lenet.model);
    EdgeRunner edge(lenet.model, lenet.hash, client_for(cloud.port()), current_test_pool(), true);
    EdgeReport r;
    for (int i = 0; i < 2; ++i) edge.infer(x, 2, r);
    {
        RawClient bad(cloud.port());
        bad.send_frame(MsgType::Result, {});
        bad.expect_error_then_close(WireError::BadType);
    }
    std::string m;
    for (int i = 0; i < 100; ++i) {  // until the server has seen the bad client go
        m = get(port, "/metrics").second;
        if (sample(m, "nsengine_open_connections") == 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(sample(m, "nsengine_ready"), 1);
    EXPECT_EQ(sample(m, "nsengine_requests_total{model=\"lenet\",cut=\"2\",outcome=\"ok\"}"), 2);
    EXPECT_EQ(sample(m, "nsengine_compute_seconds_count{model=\"lenet\"}"), 2);
    EXPECT_EQ(sample(m, "nsengine_errors_total{kind=\"bad_type\"}"), 1);
    EXPECT_GT(sample(m, "nsengine_received_bytes_total"), 2 * x.bytes());
    EXPECT_GT(sample(m, "nsengine_sent_bytes_total"), 0);
    EXPECT_EQ(sample(m, "nsengine_open_connections"), 1);  // the edge's
    EXPECT_EQ(sample(m, "nsengine_queue_depth"), 0);

    EXPECT_EQ(get(port, "/").first, 404);
    EXPECT_EQ(http(port, "POST /metrics HTTP/1.1\r\n\r\n").first, 405);
    EXPECT_EQ(
        http(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'x') + "\r\n\r\n").first,
        400);
    EXPECT_EQ(http(port, "nonsense\r\n\r\n").first, 400);
}

}  // namespace nse::test
