// helm_agent_bench: Helm's cost per store install, the Helm CLI per install against the agent,
// on the local stack (not a test; docs/decisions/0007-helm-agent.md has the figures).
//
//   helm_agent_bench --runner cli|agent --stores N --in-flight L [--agent PATH] [--prefix P]
//
// Creates N namespaces, takes a bench/costs.py snapshot, installs charts/woocommerce-store in
// each (release "store", values as the provisioner builds them: ChartValues) through the
// bench's own HelmCli (helm_cli.hpp) or the provisioner's HelmAgent with L in flight, waits 10 s
// for the controllers, takes a second snapshot, prints one JSON object: wall time, Helm CPU-seconds
// per install (CLI: the children's rusage; agent: its /proc/<pid>/stat utime+stime) and costs.py's
// diff (kube-apiserver CPU, API requests). Deletes the namespaces and waits for them to go. Needs
// KUBECONFIG and STOREFLEET_STATE.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "config.hpp"
#include "helm_agent.hpp"
#include "helm_cli.hpp"
#include "run_command.hpp"
#include "store_plan.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"

namespace pv = storefleet::provisioner;

namespace {

std::string Env(const char* name) {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return value != nullptr ? value : "";
}

std::string Slurp(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

double ChildrenCpu() {
    rusage usage{};
    getrusage(RUSAGE_CHILDREN, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double ProcessCpu(pid_t pid) {
    const std::string text = Slurp("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 0; i < 13 && fields >> field; ++i) {
        if (i == 11 || i == 12) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): a tool; an uncaught
                                   // exception ending it is its error report
    std::string runner = "cli";
#ifdef HELM_AGENT_BINARY
    std::string agent_binary = HELM_AGENT_BINARY;
#else
    std::string agent_binary;
#endif
    std::string prefix = "hab";
    int stores = 100;
    int in_flight = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--runner")
            runner = value;
        else if (flag == "--agent")
            agent_binary = value;
        else if (flag == "--prefix")
            prefix = value;
        else if (flag == "--stores")
            stores = std::stoi(value);
        else if (flag == "--in-flight")
            in_flight = std::stoi(value);
    }
    storefleet::log::Init("helm-agent-bench", "warning");
    const std::string kubeconfig = Env("KUBECONFIG");
    const std::string root = STOREFLEET_SOURCE_DIR;
    const std::string chart = root + "/charts/woocommerce-store";
    const std::string work = "/tmp/helm-agent-bench-" + std::to_string(getpid());
    std::filesystem::create_directories(work);
    std::unique_ptr<pv::HelmRunner> helm;
    pv::HelmAgent* agent = nullptr;
    if (runner == "agent") {
        auto owned = std::make_unique<pv::HelmAgent>(
            pv::HelmAgent::Options{.agent_binary = agent_binary,
                                   .kubeconfig = kubeconfig,
                                   .helm_home = work + "/helm",
                                   .timeout = std::chrono::seconds(120),
                                   .openapi_validation = false});
        agent = owned.get();
        helm = std::move(owned);
    } else {
        helm = std::make_unique<storefleet::bench::HelmCli>(storefleet::bench::HelmCli::Options{
            pv::FindExecutable("helm"), kubeconfig, work + "/helm", std::chrono::seconds(120)});
    }
    const auto run = [&](const std::vector<std::string>& args) {
        return pv::RunCommand(args,
                              {"PATH=" + Env("PATH"), "HOME=" + work, "KUBECONFIG=" + kubeconfig});
    };
    const std::string label = "storefleet.io/bench=" + prefix;
    std::vector<pv::StoreSpec> specs;
    for (int i = 0; i < stores; ++i) {
        const std::string id = storefleet::NewUuid();
        specs.push_back({id, "tenant-bench", prefix + "-" + std::to_string(i), "woocommerce",
                         "small", prefix + std::to_string(i) + ".bench.test", "admin@bench.test"});
        const std::string ns = prefix + "-" + std::to_string(i);
        auto made = run({pv::FindExecutable("kubectl"), "create", "namespace", ns});
        if (made.exit_code != 0) {
            std::cerr << made.output;
            return 1;
        }
        run({pv::FindExecutable("kubectl"), "label", "namespace", ns, label});
    }
    storefleet::ShutdownFlag shutdown;
    pv::CancelToken cancel(shutdown);
    if (agent != nullptr) {
        // Warm: the agent is long-lived; its start-up is not per install.
        (void)helm->Uninstall("warm-up", prefix + "-0", cancel);
    }
    const std::string costs = root + "/bench/costs.py";
    // costs.py counts resource requests only; Helm's discovery (/api, /apis, /version) is not.
    const std::string non_resource =
        "kubectl get --raw /metrics | python3 -c 'import sys; print(sum(float(l.rsplit(\" \", "
        "1)[1]) for l in "
        "sys.stdin if l.startswith(\"apiserver_request_total{\") and \"resource=\" + chr(34) * 2 "
        "in l))' > ";
    if (std::system(("python3 " + costs + " snapshot > " + work + "/before.json").c_str()) != 0)
        return 1;
    if (std::system((non_resource + work + "/nr-before").c_str()) != 0) return 1;
    const double helm_before = agent != nullptr ? ProcessCpu(agent->AgentPid()) : ChildrenCpu();
    const pid_t agent_pid = agent != nullptr ? agent->AgentPid() : 0;
    const auto start = std::chrono::steady_clock::now();
    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < in_flight; ++w) {
        workers.emplace_back([&] {
            for (int i = next++; i < stores; i = next++) {
                auto status = helm->UpgradeInstall(
                    pv::kReleaseName, prefix + "-" + std::to_string(i), chart, {},
                    pv::ChartValues(specs[static_cast<std::size_t>(i)], ""), cancel);
                if (!status.ok()) {
                    ++failures;
                    std::cerr << "install " << i << ": " << status.error().message << "\n";
                }
            }
        });
    }
    for (auto& worker : workers) worker.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double helm_after = agent != nullptr ? ProcessCpu(agent_pid) : ChildrenCpu();
    std::this_thread::sleep_for(std::chrono::seconds(10));
    if (std::system(("python3 " + costs + " snapshot > " + work + "/after.json").c_str()) != 0)
        return 1;
    if (std::system((non_resource + work + "/nr-after").c_str()) != 0) return 1;
    if (std::system(("python3 " + costs + " diff " + work + "/before.json " + work +
                     "/after.json " + std::to_string(stores) + " > " + work + "/diff.json")
                        .c_str()) != 0) {
        return 1;
    }
    nlohmann::json out = {
        {"runner", runner},
        {"stores", stores},
        {"in_flight", in_flight},
        {"failures", failures.load()},
        {"install_seconds", seconds},
        {"installs_per_second", stores / seconds},
        {"helm_cpu_seconds_per_install", (helm_after - helm_before) / stores},
        {"non_resource_requests_per_install",
         (std::stod(Slurp(work + "/nr-after")) - std::stod(Slurp(work + "/nr-before"))) / stores},
        {"costs", nlohmann::json::parse(Slurp(work + "/diff.json"))}};
    if (agent != nullptr)
        out["agent_rss_kib"] = [&] {
            std::istringstream status(Slurp("/proc/" + std::to_string(agent_pid) + "/status"));
            for (std::string line; std::getline(status, line);) {
                if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
            }
            return 0L;
        }();
    std::cout << out.dump(2) << "\n";
    run({pv::FindExecutable("kubectl"), "delete", "namespace", "-l", label, "--wait=true",
         "--timeout=300s"});
    std::filesystem::remove_all(work);
    return failures.load() == 0 ? 0 : 1;
}
