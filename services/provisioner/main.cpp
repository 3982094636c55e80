// storefleet-provisioner: turns store commands into namespaces, guardrails, secrets and
// Helm releases. Composition root only: the settings, the wiring, serving until SIGTERM,
// and one place that turns a failure into an exit code.
#include <filesystem>
#include <iostream>
#include <thread>

#include "admission.hpp"
#include "config.hpp"
#include "dispatcher.hpp"
#include "drift_watcher.hpp"
#include "helm_agent.hpp"
#include "provisioner.hpp"
#include "readiness.hpp"
#include "status_publisher.hpp"
#include "store_command_handler.hpp"
#include "store_lease.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/kube/kubeconfig.hpp"

using namespace storefleet;

namespace {

provisioner::ProvisionerOptions StoreOptions(const provisioner::ProvisionerConfig& config) {
    provisioner::ProvisionerOptions options;
    options.charts = config.charts;
    options.ingress_class = config.ingress_class;
    options.ingress_namespace = config.ingress_namespace;
    options.url_scheme = config.url_scheme;
    options.real_node = config.real_node;
    options.store_deadline = config.store_deadline;
    options.namespace_stuck_after = config.namespace_stuck_after;
    options.identity = {config.service_account_namespace, config.service_account_name,
                        config.store_role};
    return options;
}

int Serve(const provisioner::ProvisionerConfig& config) {
    const auto credentials =
        config.kubeconfig.empty() ? kube::LoadInCluster() : kube::LoadKubeconfig(config.kubeconfig);
    metrics::Registry registry;
    ShutdownFlag shutdown;
    kube::KubeClient kube(credentials);
    provisioner::AdmissionLimit admission(
        {.enabled = config.admission,
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
    provisioner::KafkaStatusPublisher statuses(publisher, config.cluster_simulated);

    // The leases' own client: a renewal that hangs gives up within a third of the lease
    // duration, so the keeper notices a lost lease before a taker may take it.
    kube::KubeClient lease_kube(
        credentials, "storefleet",
        std::chrono::duration_cast<std::chrono::milliseconds>(config.lease_duration) / 3);
    provisioner::StoreLeases leases(lease_kube,
                                    {.lease_namespace = config.lease_namespace,
                                     .instance_id = config.instance_id,
                                     .duration = config.lease_duration,
                                     .poll = std::chrono::milliseconds(1000)},
                                    registry);
    if (auto ensured = leases.WaitForNamespace(shutdown); !ensured.ok()) {
        if (ensured.error().code == "cancelled") return 0;  // stopped while the API was away
        throw std::runtime_error("cannot ensure the lease namespace: " + ensured.error().message);
    }
    leases.Start();
    const provisioner::DriftOptions drift_options{
        .mode = config.drift_mode,
        .ignore = config.drift_ignore,
        .ingress_namespace = config.ingress_namespace,
        .rolebinding = StoreOptions(config).identity.name,
        .max_repairs = static_cast<std::size_t>(config.drift_max_repairs),
        .resync = config.drift_resync,
        .resync_rate = static_cast<double>(config.drift_resync_rate)};
    // Drift reads the readiness watcher's Deployments and StatefulSets (one watch per kind).
    provisioner::DriftWatcher drift_watcher(kube, shutdown, drift_options);
    provisioner::ReadinessWatcher watcher(kube, shutdown);
    if (config.drift_mode != provisioner::DriftMode::kOff) {
        watcher.Also(
            [&drift_watcher](const std::string& kind) { return drift_watcher.Handlers(kind); });
    }
    watcher.Start();
    provisioner::StoreProvisioner store_provisioner(kube, helm, statuses, registry,
                                                    StoreOptions(config), &watcher);
    // Off platform-wide: no drift watch at all (a store cannot then opt in by annotation).
    provisioner::DriftRepairer drift_repairer(kube, drift_watcher, leases, store_provisioner,
                                              publisher, registry, shutdown, drift_options);
    if (config.drift_mode != provisioner::DriftMode::kOff) {
        drift_watcher.Start();
        drift_repairer.Start();
    }
    provisioner::StoreCommandHandler handler(leases, store_provisioner, publisher);

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
        [&handler](const provisioner::Command& command, const provisioner::CancelToken& cancel,
                   provisioner::AdmissionPermit& permit) {
            return handler.Handle(command, cancel, permit);
        },
        [&handler](const kafka::ConsumedMessage& message, const std::string& reason, int attempts) {
            return handler.DeadLetter(message, reason, attempts);
        },
        {.max_in_flight = static_cast<std::size_t>(config.max_in_flight),
         .max_attempts = config.max_attempts,
         .retry_backoff = std::chrono::milliseconds(1000),
         .max_retry_backoff = std::chrono::milliseconds(30'000),
         .drain_timeout = std::chrono::seconds(60),
         .admission = &admission,
         .report_given_up =
             [&handler](const provisioner::Command& command, int attempts,
                        const provisioner::CancelToken& cancel) {
                 return handler.ReportGivenUp(command, attempts, cancel);
             }},
        registry, shutdown);

    http::HttpServer server(
        {config.http_address, static_cast<uint16_t>(config.http_port), 1, 16 * 1024}, registry,
        [&dispatcher] { return dispatcher.Assigned(); });
    server.Start();
    std::thread consumer([&dispatcher] { dispatcher.Run(); });
    log::Info("provisioner started",
              {{"max_in_flight", config.max_in_flight},
               {"admission", config.admission},
               {"admission_latency_target_ms", config.admission_latency_target.count()},
               {"simulated", config.cluster_simulated},
               {"instance_id", config.instance_id},
               {"lease_identity", leases.identity()},
               {"helm_agent", config.helm_agent},
               {"drift_mode", std::string(provisioner::DriftModeName(config.drift_mode))},
               {"drift_resync_s", config.drift_resync.count()},
               {"port", server.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("provisioner stopping", {{"signal", signal}});
    shutdown.Trigger();
    consumer.join();
    leases.Stop();
    server.Stop();
    return 0;
}

}  // namespace

int main() {
    BlockTerminationSignals();
    log::Init("provisioner");
    try {
        return Serve(provisioner::ProvisionerConfig::FromEnv(EnvConfig()));
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-provisioner: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        // Start-up failures (credentials unreadable, the lease namespace refused, a port
        // taken) end the process; the orchestrator restarts it.
        std::cerr << "storefleet-provisioner: " << error.what() << "\n";
        log::Error("provisioner failed", {{"error", error.what()}});
        return 1;
    }
}
