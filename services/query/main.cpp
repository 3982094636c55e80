// storefleet-query: the read side of the REST API, over the projector's read model.
// Composition root only.
#include <iostream>

#include "config.hpp"
#include "query_api.hpp"
#include "store_reader.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/common/tenant_cache.hpp"

using namespace storefleet;

namespace {

int Serve(const query::QueryConfig& config) {
    metrics::Registry registry;
    pg::Pool pool(config.pg_url, static_cast<std::size_t>(config.pg_pool_size));
    query::PgStoreReader reader(pool);
    TenantCache tenants(config.auth_cache_ttl);
    query::QueryApi api(reader, tenants, registry);
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            registry, [&reader] { return reader.Ready(); });
    api.Register(server);

    server.Start();
    log::Info("query started", {{"port", server.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("query stopping", {{"signal", signal}});
    server.Stop();
    return 0;
}

}  // namespace

int main() {
    BlockTerminationSignals();
    log::Init("query");
    query::QueryConfig config;
    try {
        config = query::QueryConfig::FromEnv(EnvConfig());
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-query: " << error.what() << "\n";
        return 2;
    }
    try {
        return Serve(config);
    } catch (const std::exception& error) {
        log::Error("query failed to start", {{"error", error.what()}});
        return 1;
    }
}
