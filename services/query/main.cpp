// storefleet-query: the read side of the REST API, over the projector's read model.
// Composition root only: the settings, the wiring, serving until SIGTERM, and one place
// that turns a failure into an exit code.
#include <iostream>
#include <optional>

#include "change_feed.hpp"
#include "config.hpp"
#include "event_stream.hpp"
#include "list_cache.hpp"
#include "query_api.hpp"
#include "store_batcher.hpp"
#include "store_reader.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/http/public_routes.hpp"
#include "storefleet/http/sse_server.hpp"

using namespace storefleet;

namespace {

int Serve(const query::QueryConfig& config) {
    metrics::Registry registry;
    pg::Pool pool(config.pg_url, static_cast<std::size_t>(config.pg_pool_size));
    query::PgStoreReader reader(pool);
    http::Authenticator authenticator(
        [&reader](const std::string& sha) { return reader.PrincipalOfToken(sha); },
        {config.auth_cache_ttl, config.auth_negative_ttl});
    http::RateLimiter client_limiter(config.client_rate_per_second, config.client_rate_burst);
    http::RateLimiter tenant_limiter(config.tenant_read_rate_per_second,
                                     2 * config.tenant_read_rate_per_second);
    // List pages are kept while the live stream's change feed says nothing of their tenant
    // changed.
    query::ListCache list_cache;
    // Concurrent single-store GETs share one statement per batch.
    std::optional<query::StoreBatcher> store_batcher;
    if (config.store_read_threads > 0)
        store_batcher.emplace(reader, static_cast<std::size_t>(config.store_read_threads));

    query::QueryApi api(reader, authenticator, client_limiter, registry);
    api.SetTenantLimiter(&tenant_limiter);
    api.SetListCache(&list_cache);
    api.SetRealNodeEngines(config.real_node_engines);
    if (store_batcher) api.SetStoreBatcher(&*store_batcher);
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            registry, [&reader] { return reader.Ready(); });
    api.Register(server);
    server.ServePublicApiAs("query", http::PublicApiRoutes());

    // The live stream reads the change log with connections of its own.
    pg::Pool stream_pool(config.pg_url, 2);
    query::PgChangeFeed feed(config.pg_url, stream_pool);
    query::EventStreamServer stream(
        {.address = config.http_address,
         .port = static_cast<uint16_t>(config.stream_port),
         .max_connections = static_cast<std::size_t>(config.stream_max_connections),
         .max_streams_per_tenant = static_cast<std::size_t>(config.stream_max_per_tenant),
         .on_change =
             [&list_cache](const std::string& tenant_id) { list_cache.Changed(tenant_id); },
         .on_live = [&list_cache](bool live) { list_cache.SetLive(live); }},
        feed, authenticator, client_limiter, registry);

    server.Start();
    stream.Start();
    log::Info("query started", {{"port", server.Port()}, {"stream_port", stream.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("query stopping", {{"signal", signal}});
    stream.Stop();
    // GETs still being read are answered while the server can send.
    if (store_batcher) store_batcher->Stop();
    server.Stop();
    return 0;
}

}  // namespace

int main() {
    BlockTerminationSignals();
    http::RaiseOpenFileLimit();  // each live stream is a socket
    log::Init("query");
    try {
        const auto config = query::QueryConfig::FromEnv(EnvConfig());
        http::SetTrustedProxies(config.trusted_proxies);
        return Serve(config);
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-query: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        // Start-up failures (Postgres unreachable, a port taken) end the process; the
        // orchestrator restarts it.
        log::Error("query failed to start", {{"error", error.what()}});
        return 1;
    }
}
