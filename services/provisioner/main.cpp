// storefleet-provisioner: turns store commands into namespaces, guardrails, secrets and
// Helm releases. Composition root only.
#include <filesystem>
#include <iostream>
#include <memory>

#include "admission.hpp"
#include "config.hpp"
#include "dispatcher.hpp"
#include "helm_agent.hpp"
#include "provisioner.hpp"
#include "status_sink.hpp"
#include "store_lease.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/kube/client.hpp"

using namespace storefleet;

int main() {
    BlockTerminationSignals();
    log::Init("provisioner");
    provisioner::ProvisionerConfig config;
    kube::ClusterCredentials credentials;
    try {
        config = provisioner::ProvisionerConfig::FromEnv(EnvConfig());
        credentials = config.kubeconfig.empty() ? kube::LoadInCluster() : kube::LoadKubeconfig(config.kubeconfig);
    } catch (const std::exception& error) {
        std::cerr << "storefleet-provisioner: " << error.what() << "\n";
        return 2;
    }
    metrics::Registry registry;
    ShutdownFlag shutdown;
    kube::KubeClient kube(credentials);
    provisioner::AdmissionLimit admission({.enabled = config.admission,
                                           .min_limit = static_cast<std::size_t>(config.admission_min_in_flight),
                                           .max_limit = static_cast<std::size_t>(config.max_in_flight),
                                           .latency_target = config.admission_latency_target,
                                           .window = config.admission_window},
                                          registry);
    kube.SetCallObserver([&admission](std::chrono::duration<double> latency, long status) {
        admission.Observe(latency, status);
    });
    provisioner::HelmAgent helm({.agent_binary = config.helm_agent,
                                 .kubeconfig = config.kubeconfig,
                                 .helm_home = config.helm_home,
                                 .timeout = std::chrono::seconds(120),
                                 .openapi_validation = config.helm_openapi_validation});
    kafka::KafkaPublisher publisher(config.kafka_brokers, "storefleet-provisioner");
    provisioner::KafkaStatusSink sink(publisher, config.cluster_simulated);
    const auto charts = std::filesystem::absolute(config.charts_dir);
    provisioner::ProvisionerOptions options;
    options.woocommerce_chart = (charts / "woocommerce-store").string();
    if (std::filesystem::exists(charts / "medusa-store" / "Chart.yaml")) {
        options.medusa_chart = (charts / "medusa-store").string();
    }
    options.ingress_class = config.ingress_class;
    options.ingress_namespace = config.ingress_namespace;
    options.url_scheme = config.url_scheme;
    options.real_node = config.real_node;
    options.store_deadline = config.store_deadline;
    options.namespace_stuck_after = config.namespace_stuck_after;
    options.identity = {config.service_account_namespace, config.service_account_name, config.store_role};

    // The leases' own client: a renewal that hangs gives up within a third of the lease
    // duration, so the keeper notices a lost lease before a taker may take it.
    kube::KubeClient lease_kube(credentials, "storefleet",
                                std::chrono::duration_cast<std::chrono::milliseconds>(config.lease_duration) / 3);
    provisioner::StoreLeases leases(lease_kube,
                                    {.lease_namespace = config.lease_namespace,
                                     .instance_id = config.instance_id,
                                     .duration = config.lease_duration,
                                     .poll = std::chrono::milliseconds(1000)},
                                    registry);
    // The lease namespace must exist before any store runs; wait for the API if need be.
    for (auto backoff = std::chrono::milliseconds(500);; backoff = std::min(backoff * 2, std::chrono::milliseconds(5000))) {
        auto ensured = leases.EnsureNamespace();
        if (ensured.ok()) break;
        log::Warn("cannot ensure the lease namespace; retrying", {{"namespace", config.lease_namespace},
                                                                  {"error", ensured.error().message}});
        if (!ensured.error().retryable()) {
            std::cerr << "storefleet-provisioner: " << ensured.error().message << "\n";
            return 2;
        }
        if (shutdown.WaitFor(backoff)) return 0;
    }
    leases.Start();
    provisioner::ReadinessWatcher watcher(kube, shutdown);
    watcher.Start();
    provisioner::StoreProvisioner provisioner(kube, helm, sink, registry, options, &watcher);

    provisioner::CommandDispatcher dispatcher(
        {.brokers = config.kafka_brokers,
         .group_id = config.consumer_group,
         .client_id = "storefleet-provisioner",
         .topics = {events::kCommandsTopic},
         .on_assign = nullptr,
         .on_revoke = nullptr,
         .overrides = {{"max.poll.interval.ms", "300000"}},
         .instance_id = config.instance_id,
         .cooperative = true,
         .session_timeout = config.session_timeout},
        [&](const provisioner::Command& command, const provisioner::CancelToken& cancel) {
            // One runner per store: everything below happens under the store's lease.
            auto held = leases.Acquire(command.envelope.store_id(), cancel);
            if (!held.ok()) {
                if (held.error().code == "cancelled") return provisioner::Outcome::kCancelled;
                throw std::runtime_error("cannot take the store lease: " + held.error().message);
            }
            return command.envelope.has_store_deletion_requested() ? provisioner.Deprovision(command, cancel)
                                                                   : provisioner.Provision(command, cancel);
        },
        [&](const kafka::ConsumedMessage& message, const std::string& reason, int attempts) {
            return publisher.PublishAndWait(
                {{events::kDeadLetterTopic,
                  message.key,
                  message.payload,
                  {{"storefleet-reason", reason},
                   {"storefleet-attempts", std::to_string(attempts)},
                   {"storefleet-source", message.topic + "/" + std::to_string(message.partition) + "@" +
                                             std::to_string(message.offset)}}}},
                std::chrono::seconds(15));
        },
        {.max_in_flight = static_cast<std::size_t>(config.max_in_flight),
         .max_attempts = config.max_attempts,
         .retry_backoff = std::chrono::milliseconds(1000),
         .max_retry_backoff = std::chrono::milliseconds(30'000),
         .drain_timeout = std::chrono::seconds(60),
         .admission = &admission,
         .report_given_up =
             [&](const provisioner::Command& command, int attempts, const provisioner::CancelToken& cancel) -> Status {
                 // Under the store's lease, like everything said about the store.
                 auto held = leases.Acquire(command.envelope.store_id(), cancel);
                 if (!held.ok()) return held.error();
                 return provisioner.ReportGivenUp(command, attempts, cancel);
             }},
        registry, shutdown);

    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port), 1, 16 * 1024}, registry,
                            [&] { return dispatcher.Assigned(); });
    server.Start();
    std::thread consumer([&] { dispatcher.Run(); });
    log::Info("provisioner started", {{"max_in_flight", config.max_in_flight},
                                      {"admission", config.admission},
                                      {"admission_latency_target_ms", config.admission_latency_target.count()},
                                      {"simulated", config.cluster_simulated},
                                      {"instance_id", config.instance_id},
                                      {"lease_identity", leases.identity()},
                                      {"port", server.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("provisioner stopping", {{"signal", signal}});
    shutdown.Trigger();
    consumer.join();
    leases.Stop();
    server.Stop();
    return 0;
}
