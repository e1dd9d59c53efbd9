// Helpers of the network tests (tests/test_net*.cpp): the test models served, their reference
// inputs and local outputs, client and server options, and the certificates the tests' fixture
// made (tests/make_test_certs.sh) for the TLS ones.
#pragma once

#include <cstring>
#include <string>

#include "engine/runtime.h"
#include "net/edge.h"
#include "net/server.h"
#include "tests/test_helpers.h"
#include "weights/safetensors.h"

namespace nse::test {

using namespace net;

inline ServedModel serve(const std::string& name) {
    const std::string path = std::string(NSE_TEST_MODELS_DIR) + "/" + name + ".safetensors";
    return {Model::load(path), file_content_hash(path)};
}

inline Tensor reference_input(const Model& m) {
    SafeTensors ref =
        read_safetensors(std::string(NSE_TEST_MODELS_DIR) + "/" + m.name() + ".ref.safetensors");
    return ref.tensors.at("input").clone();
}

inline Tensor local_output(const std::shared_ptr<const Model>& m, const Tensor& x) {
    Runtime rt(m, current_test_pool());
    return rt.run(x).clone();
}

inline bool same_bytes(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

inline ClientOptions client_for(uint16_t port, double timeout_s = 30) {
    ClientOptions o;
    o.port = port;
    o.request_timeout_s = timeout_s;
    o.connect_timeout_s = 5;
    return o;
}

inline ServerOptions server_options() {
    ServerOptions o;
    o.port = 0;
    o.threads = 1;
    return o;
}

// A good client gets a correct answer: the server still works after whatever came before.
inline void expect_good_client_served(uint16_t port, const ServedModel& lenet,
                                      const TlsClientConfig& tls = {}) {
    Tensor x = reference_input(*lenet.model);
    ClientOptions co = client_for(port);
    co.tls = tls;
    EdgeRunner edge(lenet.model, lenet.hash, co, current_test_pool(), /*require_cloud=*/true);
    EdgeReport r;
    const Tensor& y = edge.infer(x, 2, r);
    EXPECT_TRUE(r.offloaded);
    EXPECT_TRUE(same_bytes(y, local_output(lenet.model, x)));
}

// Every kind costs `ms` per node.
inline std::shared_ptr<DeviceProfile> constant_profile(double ms) {
    auto p = std::make_shared<DeviceProfile>();
    for (const auto& kind : cost_kinds()) {
        KindFit f;
        f.coef.assign(feature_names(kind).size(), 0.0);
        f.coef[0] = ms;
        p->kinds[kind] = f;
    }
    return p;
}

// A file the certificate fixture made, e.g. tls_file("good/ca.pem").
inline std::string tls_file(const std::string& name) {
    return std::string(NSE_TEST_DATA_DIR) + "/tls/" + name;
}

// The cloud's TLS: the good server certificate; with `client_certs`, clients must present one
// the good CA signed.
inline TlsServerConfig server_tls(bool client_certs = false) {
    TlsServerConfig t;
    t.cert_file = tls_file("good/server.pem");
    t.key_file = tls_file("good/server.key");
    if (client_certs) t.client_ca_file = tls_file("good/ca.pem");
    return t;
}

// The edge's TLS trusting the good CA; `identity` ("client", "expired-client", ...) adds a
// client certificate from good/ (or the rogue CA's with "rogue/client").
inline TlsClientConfig client_tls(const std::string& identity = "") {
    TlsClientConfig t;
    t.enabled = true;
    t.ca_file = tls_file("good/ca.pem");
    if (!identity.empty()) {
        const std::string base =
            identity.find('/') == std::string::npos ? "good/" + identity : identity;
        t.cert_file = tls_file(base + ".pem");
        t.key_file = tls_file(base + ".key");
    }
    return t;
}

}  // namespace nse::test
