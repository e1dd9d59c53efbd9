#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fstream>

#include "base/error.h"

namespace nse::net {

namespace {

using asio::ssl::context;

// OpenSSL's reason without asio's " (SSL routines)" suffix.
std::string reason(const std::error_code& ec) {
    std::string m = ec.message();
    const size_t paren = m.rfind(" (");
    if (paren != std::string::npos && m.back() == ')') m.resize(paren);
    return m;
}

void readable(const std::string& file, const char* what) {
    std::ifstream f(file);
    NSE_CHECK(f.good(), ErrorCode::InvalidArgument, "cannot read ", what, " ", file);
}

void load_identity(context& ctx, const std::string& cert, const std::string& key,
                   const char* flag) {
    NSE_CHECK(!key.empty(), ErrorCode::InvalidArgument, flag,
              " needs its private key too (--tls-key)");
    readable(cert, "certificate");
    readable(key, "private key");
    std::error_code ec;
    ctx.use_certificate_chain_file(cert, ec);
    NSE_CHECK(!ec, ErrorCode::InvalidArgument, "certificate ", cert,
              " is not usable: ", reason(ec));
    ctx.use_private_key_file(key, context::pem, ec);
    NSE_CHECK(!ec || reason(ec) != "key values mismatch", ErrorCode::InvalidArgument,
              "private key ", key, " does not belong to certificate ", cert);
    NSE_CHECK(!ec, ErrorCode::InvalidArgument, "private key ", key, " is not usable: ", reason(ec));
    NSE_CHECK(SSL_CTX_check_private_key(ctx.native_handle()) == 1, ErrorCode::InvalidArgument,
              "private key ", key, " does not belong to certificate ", cert);
}

void load_ca(context& ctx, const std::string& file) {
    readable(file, "CA file");
    std::error_code ec;
    ctx.load_verify_file(file, ec);
    NSE_CHECK(!ec, ErrorCode::InvalidArgument, "CA file ", file, " is not usable: ", reason(ec));
}

std::shared_ptr<context> base_context(context::method method) {
    auto ctx = std::make_shared<context>(method);
    // TLS 1.2 and 1.3 only; no renegotiation, no compression.
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_options(context::default_workarounds | context::no_compression |
                     SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

bool is_ip_address(const std::string& host) {
    std::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

}  // namespace

std::shared_ptr<context> make_server_tls(const TlsServerConfig& config) {
    auto ctx = base_context(context::tls_server);
    load_identity(*ctx, config.cert_file, config.key_file, "--tls-cert");
    if (!config.client_ca_file.empty()) {
        load_ca(*ctx, config.client_ca_file);
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
        if (names) SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
        ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    return ctx;
}

std::shared_ptr<context> make_client_tls(const TlsClientConfig& config) {
    auto ctx = base_context(context::tls_client);
    if (config.ca_file.empty()) {
        std::error_code ec;
        ctx->set_default_verify_paths(ec);
        NSE_CHECK(!ec, ErrorCode::InvalidArgument,
                  "cannot load the system's trust store: ", reason(ec),
                  " (name one with --tls-ca)");
    } else {
        load_ca(*ctx, config.ca_file);
    }
    if (!config.cert_file.empty())
        load_identity(*ctx, config.cert_file, config.key_file, "--tls-cert");
    NSE_CHECK(!(config.cert_file.empty() && !config.key_file.empty()), ErrorCode::InvalidArgument,
              "--tls-key needs its certificate too (--tls-cert)");
    ctx->set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

void set_tls_peer_name(SSL* ssl, const std::string& server_name) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip_address(server_name)) {
        X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, server_name.c_str());
        X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
    }
}

bool is_tls_error(const std::error_code& ec) {
    return ec.category() == asio::error::get_ssl_category() ||
           ec == asio::ssl::error::stream_truncated;
}

std::string explain_tls_error(SSL* ssl, const std::error_code& ec) {
    const long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK) {
        const std::string why = X509_verify_cert_error_string(verify);
        switch (verify) {
            case X509_V_ERR_HOSTNAME_MISMATCH:
            case X509_V_ERR_IP_ADDRESS_MISMATCH:
                return "TLS: the cloud's certificate is not made out to this host name or address "
                       "(" +
                       why + "; --tls-server-name names the one it carries)";
            case X509_V_ERR_CERT_HAS_EXPIRED:
                return "TLS: the cloud's certificate has expired";
            case X509_V_ERR_CERT_NOT_YET_VALID:
                return "TLS: the cloud's certificate is not valid yet (check both clocks)";
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                return "TLS: the cloud's certificate is not signed by a CA this edge trusts (" +
                       why + "; --tls-ca names the CA file)";
            default:
                return "TLS: the cloud's certificate was rejected: " + why;
        }
    }
    if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof)
        return "TLS: the cloud closed the connection without a TLS alert";
    const std::string r = reason(ec);
    auto has = [&](const char* s) { return r.find(s) != std::string::npos; };
    if (has("wrong version number") || has("packet length too long") ||
        has("record layer failure") || has("unknown protocol"))
        return "TLS: the cloud does not speak TLS (" + r + "; is it started with --tls-cert?)";
    if (has("certificate required") || has("handshake failure"))
        return "TLS: the cloud requires a client certificate (" + r + "; --tls-cert/--tls-key)";
    if (has("certificate expired"))
        return "TLS: the cloud refused this edge's certificate: it has expired (" + r + ")";
    if (has("unknown ca") || has("bad certificate") || has("certificate unknown") ||
        has("decrypt error"))
        return "TLS: the cloud refused this edge's certificate (" + r +
               "; is it signed by the CA the cloud's --tls-client-ca names?)";
    return "TLS: " + r;
}

}  // namespace nse::net
