// TLS between edge and cloud: split runs over TLS equal the local run (and the cloud answered);
// every way a handshake can fail gives the edge a line that names the cause and the edge finishes
// locally; hostile clients of a TLS listener (garbage, a handshake never finished, 64 idle
// connections, mutated frames) are bounded in time and harm nobody else. The certificates come
// from tests/make_test_certs.sh (the reference_data fixture).
#include <chrono>
#include <random>
#include <thread>

#include "tests/net_helpers.h"
#include "tests/net_test_util.h"

namespace nse::test {

namespace {

ServerOptions tls_server(bool client_certs = false) {
    ServerOptions so = server_options();
    so.tls = server_tls(client_certs);
    return so;
}

// The server's gauge of open connections, read from its metrics.
int open_connections(const CloudServer& server) {
    const std::string text = server.metrics_text();
    const std::string key = "\nnsengine_open_connections ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + key.size()));
}

// Waits up to `seconds` for the server to have no connection open.
bool drains(const CloudServer& server, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (open_connections(server) == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

}  // namespace

TEST(Tls, SplitRunsEqualTheLocalRunAndTheCloudAnswered) {
    std::vector<ServedModel> models{serve("lenet"), serve("mobilenet_v2")};
    BackgroundServer cloud(tls_server(), models);
    for (const auto& m : models) {
        const Tensor x = reference_input(*m.model);
        const Tensor want = local_output(m.model, x);
        ClientOptions co = client_for(cloud.port());
        co.tls = client_tls();
        EdgeRunner edge(m.model, m.hash, co, current_test_pool(), /*require_cloud=*/true);
        for (int cut : {0, 3, m.model->size() / 2}) {
            EdgeReport r;
            const Tensor& y = edge.infer(x, cut, r);
            EXPECT_TRUE(r.offloaded) << m.model->name() << " cut " << cut;
            EXPECT_TRUE(same_bytes(y, want)) << m.model->name() << " cut " << cut;
        }
    }
    EXPECT_EQ(cloud.server().requests_served(), 6u);
}

TEST(Tls, MutualTlsServesAClientWithACertificate) {
    ServedModel lenet = serve("lenet");
    BackgroundServer cloud(tls_server(/*client_certs=*/true), {lenet});
    expect_good_client_served(cloud.port(), lenet, client_tls("client"));
}

// Each way TLS can fail: the edge says why in its fallback reason, still answers (locally, the
// same bytes), and with require_cloud throws that reason instead.
TEST(Tls, EveryFailureNamesItsCauseAndTheEdgeFinishesLocally) {
    ServedModel lenet = serve("lenet");
    const Tensor x = reference_input(*lenet.model);
    const Tensor want = local_output(lenet.model, x);
    auto server_with = [](const std::string& identity, bool client_certs) {
        ServerOptions so = tls_server(client_certs);
        so.tls.cert_file = tls_file(identity + ".pem");
        so.tls.key_file = tls_file(identity + ".key");
        return so;
    };
    struct Case {
        const char* what;
        ServerOptions server;
        TlsClientConfig client;
        const char* says;
    };
    TlsClientConfig other_name = client_tls();
    other_name.server_name = "cloud.example";
    const std::vector<Case> cases = {
        {"server certificate from an unknown CA", server_with("rogue/server", false), client_tls(),
         "not signed by a CA this edge trusts"},
        {"server certificate for another host", server_with("good/other-host", false), client_tls(),
         "not made out to this host name or address"},
        {"name asked for is not the certificate's", tls_server(), other_name,
         "not made out to this host name or address"},
        {"expired server certificate", server_with("good/expired-server", false), client_tls(),
         "the cloud's certificate has expired"},
        {"no client certificate", tls_server(true), client_tls(),
         "the cloud requires a client certificate"},
        {"client certificate from an unknown CA", tls_server(true), client_tls("rogue/client"),
         "the cloud refused this edge's certificate"},
        {"expired client certificate", tls_server(true), client_tls("expired-client"),
         "refused this edge's certificate: it has expired"},
        {"plaintext edge, TLS cloud", tls_server(), TlsClientConfig{}, "tls_required"},
        {"TLS edge, plaintext cloud", server_options(), client_tls(),
         "the cloud does not speak TLS"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        BackgroundServer cloud(c.server, {lenet});
        ClientOptions co = client_for(cloud.port());
        co.tls = c.client;
        EdgeRunner edge(lenet.model, lenet.hash, co, current_test_pool());
        EdgeReport r;
        const Tensor& y = edge.infer(x, 3, r);
        EXPECT_FALSE(r.offloaded);
        EXPECT_NE(r.fallback_reason.find(c.says), std::string::npos) << r.fallback_reason;
        EXPECT_TRUE(same_bytes(y, want));
        EdgeRunner strict(lenet.model, lenet.hash, co, current_test_pool(), true);
        try {
            strict.infer(x, 3, r);
            ADD_FAILURE() << "require_cloud did not throw";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
        }
        EXPECT_EQ(cloud.server().requests_served(), 0u);
    }
}

TEST(Tls, BadCertificateFilesAreRefusedAtStartWithTheFileNamed) {
    ServedModel lenet = serve("lenet");
    auto expect_refused = [&](TlsServerConfig tls, const std::string& says) {
        ServerOptions so = server_options();
        so.tls = tls;
        try {
            CloudServer s(so, {lenet});
            ADD_FAILURE() << "accepted " << tls.cert_file << " / " << tls.key_file;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
        }
    };
    TlsServerConfig t = server_tls();
    t.cert_file = "/nonexistent/server.pem";
    expect_refused(t, "cannot read certificate /nonexistent/server.pem");
    t = server_tls();
    t.key_file = tls_file("good/client.key");  // another certificate's key
    expect_refused(t, "does not belong to certificate");
    t = server_tls();
    t.cert_file = tls_file("tokens");  // not PEM
    expect_refused(t, "is not usable");
    t = server_tls(true);
    t.client_ca_file = tls_file("token-good");
    expect_refused(t, "CA file");
    ClientOptions co;
    co.tls = client_tls();
    co.tls.ca_file = "/nonexistent/ca.pem";
    try {
        CloudClient client(co);
        ADD_FAILURE() << "a missing CA file was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot read CA file /nonexistent/ca.pem"),
                  std::string::npos)
            << e.what();
    }
}

// A client that sends garbage, never starts the handshake, or stops half way through it is
// closed after the handshake timeout; nobody else notices.
TEST(Tls, HandshakesThatNeverFinishAreBoundedInTime) {
    ServedModel lenet = serve("lenet");
    ServerOptions so = tls_server();
    so.handshake_timeout_s = 0.3;
    BackgroundServer cloud(so, {lenet});
    asio::io_context io;
    auto connect = [&] {
        auto s = std::make_unique<asio::ip::tcp::socket>(io);
        s->connect({asio::ip::make_address("127.0.0.1"), cloud.port()});
        timeval tv{3, 0};
        setsockopt(s->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return s;
    };
    auto closed_within = [](asio::ip::tcp::socket& s, double seconds) {
        const auto t0 = std::chrono::steady_clock::now();
        uint8_t buf[256];
        std::error_code ec;
        while (!ec) s.read_some(asio::buffer(buf), ec);  // TLS alerts may come first
        const double took =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return (ec == asio::error::eof || ec == asio::error::connection_reset) && took < seconds;
    };
    auto silent = connect();
    auto garbage = connect();
    asio::write(*garbage, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
    auto half = connect();
    const uint8_t client_hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    asio::write(*half, asio::buffer(client_hello_start));
    EXPECT_TRUE(closed_within(*garbage, 1.0)) << "garbage";
    EXPECT_TRUE(closed_within(*silent, 1.5)) << "silent";
    EXPECT_TRUE(closed_within(*half, 1.5)) << "half a ClientHello";
    EXPECT_TRUE(drains(cloud.server(), 2));
    const std::string metrics = cloud.server().metrics_text();
    EXPECT_NE(metrics.find("nsengine_errors_total{kind=\"tls_handshake\"} 1"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("nsengine_errors_total{kind=\"handshake_timeout\"} 2"),
              std::string::npos)
        << metrics;
    expect_good_client_served(cloud.port(), lenet, client_tls());
}

// 64 handshaken, idle TLS connections fill the limit: the next is told it is busy, the idle
// ones are closed at the idle timeout, and then a good client is served.
TEST(Tls, SixtyFourIdleTlsConnections) {
    ServedModel lenet = serve("lenet");
    ServerOptions so = tls_server();
    so.max_clients = 64;
    so.idle_timeout_s = 1.5;
    BackgroundServer cloud(so, {lenet});
    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 64; ++i) {
        idle.push_back(std::make_unique<RawClient>(cloud.port(), true));
        idle.back()->send_frame(MsgType::Hello, encode_json("{}"));
        std::vector<uint8_t> p;
        ASSERT_EQ(idle.back()->read_frame(p).type, uint16_t(MsgType::HelloAck)) << i;
    }
    RawClient extra(cloud.port(), true);
    extra.expect_error_then_close(WireError::Busy);
    for (auto& c : idle) c->expect_error_then_close(WireError::Timeout);
    idle.clear();
    EXPECT_TRUE(drains(cloud.server(), 2));
    expect_good_client_served(cloud.port(), lenet, client_tls());
}

// The protocol fuzzer's mutations (tests/test_protocol.cpp), sent over TLS to a live listener:
// every connection ends (an ERROR, a reply, or a close), none holds a slot, the server serves on.
TEST(Tls, MutatedFramesOverTlsNeverHarmTheServer) {
    ServedModel lenet = serve("lenet");
    ServerOptions so = tls_server();
    so.io_timeout_s = 0.3;
    so.idle_timeout_s = 0.3;
    BackgroundServer cloud(so, {lenet});
    const Tensor x = reference_input(*lenet.model);
    InferRequest req{"lenet", lenet.hash, 0, 0, {}, {{"input", x.shape(), x.data()}}};
    Outgoing hello;
    hello.head = encode_json("{\"client\":\"fuzz\"}");
    auto frame = [](MsgType type, const Outgoing& out) {
        std::vector<uint8_t> bytes(kHeaderBytes);
        FrameHeader h;
        h.type = uint16_t(type);
        h.payload_bytes = out.payload_bytes();
        encode_header(h, bytes.data());
        const std::vector<uint8_t> payload = out.flatten();
        bytes.insert(bytes.end(), payload.begin(), payload.end());
        return bytes;
    };
    const std::vector<std::vector<uint8_t>> seeds = {frame(MsgType::Infer, encode_infer(req)),
                                                     frame(MsgType::Hello, hello)};
    std::atomic<int> answered{0};
    auto worker = [&](unsigned seed) {
        std::mt19937 rng(seed);
        for (int i = 0; i < 40; ++i) {
            std::vector<uint8_t> m = seeds[rng() % seeds.size()];
            for (int e = 0, edits = 1 + int(rng() % 4); e < edits; ++e) {
                const size_t at = rng() % std::min<size_t>(m.size(), 160);  // header and head
                if (rng() % 3)
                    m[at] ^= uint8_t(1u << (rng() % 8));
                else
                    m[at] = uint8_t(rng());
            }
            RawClient c(cloud.port(), true);
            c.set_read_timeout(1.0);
            c.send(m);
            std::vector<uint8_t> p;
            try {
                c.read_frame(p);
                ++answered;
            } catch (const Error&) {  // closed without a reply, or still waiting: both fine
            }
        }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 4; ++t) threads.emplace_back(worker, 100 + t);
    for (auto& t : threads) t.join();
    EXPECT_GT(answered.load(), 40);  // the mutations reach the checks behind TLS
    EXPECT_TRUE(drains(cloud.server(), 3));
    expect_good_client_served(cloud.port(), lenet, client_tls());
}

}  // namespace nse::test
