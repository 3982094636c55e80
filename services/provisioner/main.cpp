// storefleet-provisioner: turns store commands into namespaces, guardrails, secrets and
// Helm releases. Composition root only.
#include <filesystem>
#include <iostream>

#include "config.hpp"
#include "dispatcher.hpp"
#include "helm.hpp"
#include "provisioner.hpp"
#include "status_sink.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/kafka/events.hpp"
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
    provisioner::HelmCli helm({config.helm_binary, config.kubeconfig, config.helm_home, std::chrono::seconds(120),
                               config.helm_openapi_validation});
    kafka::KafkaPublisher publisher(config.kafka_brokers, "storefleet-provisioner");
    provisioner::KafkaStatusSink sink(publisher, shutdown, config.cluster_simulated);
    const auto charts = std::filesystem::absolute(config.charts_dir);
    provisioner::ProvisionerOptions options;
    options.woocommerce_chart = (charts / "woocommerce-store").string();
    if (std::filesystem::exists(charts / "medusa-store" / "Chart.yaml")) {
        options.medusa_chart = (charts / "medusa-store").string();
    }
    options.ingress_class = config.ingress_class;
    options.url_scheme = config.url_scheme;
    options.store_deadline = config.store_deadline;
    provisioner::ReadinessWatcher watcher(kube, shutdown);
    watcher.Start();
    provisioner::StoreProvisioner provisioner(kube, helm, sink, registry, options, &watcher);

    provisioner::CommandDispatcher dispatcher(
        {.brokers = config.kafka_brokers,
         .group_id = config.consumer_group,
         .client_id = "storefleet-provisioner",
         .topics = {kafka::kCommandsTopic},
         .on_assign = nullptr,
         .on_revoke = nullptr,
         .overrides = {{"max.poll.interval.ms", "300000"}}},
        [&](const v1::Envelope& command, const provisioner::CancelToken& cancel) {
            return command.has_store_deletion_requested() ? provisioner.Deprovision(command, cancel)
                                                          : provisioner.Provision(command, cancel);
        },
        [&](const kafka::ConsumedMessage& message, const std::string&) {
            (void)publisher.PublishAndWait({{kafka::kDeadLetterTopic, message.key, message.payload}},
                                           std::chrono::seconds(10));
        },
        static_cast<std::size_t>(config.max_in_flight), registry, shutdown);

    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port), 1, 16 * 1024}, registry,
                            [&] { return dispatcher.Assigned(); });
    server.Start();
    std::thread consumer([&] { dispatcher.Run(); });
    log::Info("provisioner started", {{"max_in_flight", config.max_in_flight},
                                      {"simulated", config.cluster_simulated},
                                      {"port", server.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("provisioner stopping", {{"signal", signal}});
    shutdown.Trigger();
    consumer.join();
    server.Stop();
    return 0;
}
