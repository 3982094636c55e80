// bench/ceiling: the control plane's ceiling for store provisioning, as a reference for
// bench/run.sh. For N stores it applies straight to the API server the very objects the
// provisioner gives a store (namespace, RoleBinding, ResourceQuota, LimitRange, the three
// NetworkPolicies, the credentials Secret, and the chart's manifests rendered by `helm
// template` once per run with the per-store names substituted), with server-side apply
// (field manager storefleet-ceiling), `--in-flight` stores at a time, and waits for each with
// the provisioner's own readiness rule and shared watch (ReadinessWatcher, linked, not
// copied). What it leaves out is storefleet itself: Kafka, Postgres, leases, status events,
// the access review, Helm's process and its release records.
//
// Prints one JSON line: stores, seconds (first apply to last Ready), stores_per_second, and
// the percentiles of apply-start-to-Ready. Threads: `--in-flight` workers plus the watcher's.
//
// With `--upgrade-to CHART_DIR`, once every store is Ready it upgrades them all the same way:
// the other chart version rendered once, its objects re-applied per store, `--in-flight` at a
// time, each store waited for until every Deployment and StatefulSet of the new chart has rolled
// out (the provisioner's rule, EvaluateWorkload, on the object as the API server has it now, so
// a cache that has not seen the new generation cannot call it Ready); the "upgrade" object of
// the JSON line has the same figures.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "readiness.hpp"
#include "store_plan.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace storefleet::ceiling {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace pv = storefleet::provisioner;

constexpr const char* kFieldManager = "storefleet-ceiling";
// Stand-ins rendered into the chart once, replaced per store. Distinct from anything a chart
// writes on its own, and the id is a valid UUID so the chart's own checks accept it.
constexpr const char* kPlaceholderId = "00000000-0000-4000-8000-0000000ce111";
constexpr const char* kPlaceholderName = "ceilingplaceholdername";
constexpr const char* kPlaceholderHost = "ceilingplaceholderhost.invalid";

struct Options {
    int stores = 100;
    int in_flight = 32;
    std::string prefix = "ceiling";
    std::string engine = "woocommerce";
    std::string plan = "small";
    std::string tenant = "ceiling";
    std::string charts_dir = "charts";
    std::string chart;       // the chart folder; default <charts_dir>/<engine>-store
    std::string upgrade_to;  // a chart folder to upgrade every store to once Ready
    std::string helm = "helm";
    std::string kubeconfig;
    std::string ingress_namespace = "ingress-nginx";
    std::string ingress_class;
    std::string service_account;  // ns:name, as STOREFLEET_PROVISIONER_SERVICE_ACCOUNT
    std::string store_role;
    int deadline_seconds = 900;
};

[[noreturn]] void Usage(const std::string& why) {
    std::cerr << "ceiling: " << why
              << "\nusage: ceiling --stores N --in-flight L [--prefix P] [--engine "
                 "woocommerce|medusa] [--plan "
                 "small|medium|large]\n  [--charts-dir D] [--helm PATH] [--kubeconfig PATH] "
                 "[--ingress-namespace NS] "
                 "[--ingress-class C]\n  [--service-account NS:NAME] [--store-role ROLE] [--tenant "
                 "T] [--deadline S]\n  [--chart DIR] [--upgrade-to DIR]\n"
                 "Defaults come from STOREFLEET_CHARTS_DIR, STOREFLEET_HELM_BINARY, KUBECONFIG,\n"
                 "STOREFLEET_INGRESS_NAMESPACE, STOREFLEET_INGRESS_CLASS, "
                 "STOREFLEET_PROVISIONER_SERVICE_ACCOUNT.\n";
    std::exit(2);  // NOLINT(concurrency-mt-unsafe)
}

std::string Env(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return value != nullptr && *value != '\0' ? value : fallback;
}

int PositiveInt(const std::string& flag, const std::string& text, int max) {
    try {
        std::size_t used = 0;
        const int value = std::stoi(text, &used);
        if (used == text.size() && value >= 1 && value <= max) return value;
    } catch (const std::exception&) {
    }
    Usage(flag + " must be a whole number from 1 to " + std::to_string(max) + ", not '" + text +
          "'");
}

Options ParseOptions(int argc, char** argv) {
    Options o;
    o.charts_dir = Env("STOREFLEET_CHARTS_DIR", o.charts_dir);
    o.helm = Env("STOREFLEET_HELM_BINARY", o.helm);
    o.kubeconfig = Env("KUBECONFIG", "");
    o.ingress_namespace = Env("STOREFLEET_INGRESS_NAMESPACE", o.ingress_namespace);
    o.ingress_class = Env("STOREFLEET_INGRESS_CLASS", "");
    o.service_account = Env("STOREFLEET_PROVISIONER_SERVICE_ACCOUNT", "");
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& flag = args[i];
        if (i + 1 >= args.size()) Usage(flag + " needs a value");
        const std::string& value = args[++i];
        if (flag == "--stores")
            o.stores = PositiveInt(flag, value, 100'000);
        else if (flag == "--in-flight")
            o.in_flight = PositiveInt(flag, value, 1024);
        else if (flag == "--deadline")
            o.deadline_seconds = PositiveInt(flag, value, 86'400);
        else if (flag == "--prefix")
            o.prefix = value;
        else if (flag == "--engine")
            o.engine = value;
        else if (flag == "--plan")
            o.plan = value;
        else if (flag == "--tenant")
            o.tenant = value;
        else if (flag == "--charts-dir")
            o.charts_dir = value;
        else if (flag == "--chart")
            o.chart = value;
        else if (flag == "--upgrade-to")
            o.upgrade_to = value;
        else if (flag == "--helm")
            o.helm = value;
        else if (flag == "--kubeconfig")
            o.kubeconfig = value;
        else if (flag == "--ingress-namespace")
            o.ingress_namespace = value;
        else if (flag == "--ingress-class")
            o.ingress_class = value;
        else if (flag == "--service-account")
            o.service_account = value;
        else if (flag == "--store-role")
            o.store_role = value;
        else
            Usage("unknown option " + flag);
    }
    if (o.engine != "woocommerce" && o.engine != "medusa")
        Usage("--engine must be woocommerce or medusa");
    if (o.plan != "small" && o.plan != "medium" && o.plan != "large")
        Usage("--plan must be small, medium or large");
    if (o.kubeconfig.empty()) Usage("no kubeconfig: set KUBECONFIG or --kubeconfig");
    if (o.chart.empty())
        o.chart = (std::filesystem::path(o.charts_dir) / (o.engine + "-store")).string();
    if (!std::filesystem::is_regular_file(std::filesystem::path(o.chart) / "Chart.yaml"))
        Usage("no chart in " + o.chart + " (--chart, or --charts-dir with " + o.engine + "-store)");
    if (!o.upgrade_to.empty() &&
        !std::filesystem::is_regular_file(std::filesystem::path(o.upgrade_to) / "Chart.yaml"))
        Usage("--upgrade-to " + o.upgrade_to + " has no Chart.yaml");
    return o;
}

// Runs argv without a shell; stdout goes to `out_path`, stderr to ours. Returns the exit code.
int Spawn(const std::vector<std::string>& argv, const std::string& out_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));  // NOLINT
    args.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One object of the rendered chart: its collection's path (namespace still the placeholder's)
// and its YAML text, both with the placeholders still in them.
struct ChartObject {
    std::string path;
    std::string yaml;
};

// kind -> (plural, namespaced) for one group/version, from the API server's discovery.
using Discovery = std::map<std::string, std::pair<std::string, bool>>;

std::string GroupVersionPath(const std::string& api_version) {
    return api_version.find('/') == std::string::npos ? "/api/" + api_version
                                                      : "/apis/" + api_version;
}

// Renders `chart` once for the placeholder store, exactly with the values the provisioner
// gives Helm (ChartValues), and resolves each object's API path by discovery.
std::vector<ChartObject> RenderChart(const Options& o, const std::string& chart,
                                     kube::KubeApi& kube) {
    pv::StoreSpec placeholder{kPlaceholderId,
                              o.tenant,
                              kPlaceholderName,
                              o.engine,
                              o.plan,
                              kPlaceholderHost,
                              "admin@" + std::string(kPlaceholderHost)};
    const auto dir =
        std::filesystem::temp_directory_path() / ("storefleet-ceiling-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace);
    const auto values = (dir / "values.json").string();
    const auto rendered = (dir / "rendered.yaml").string();
    std::ofstream(values) << pv::ChartValues(placeholder, o.ingress_class).dump();
    const int code = Spawn({o.helm, "template", pv::kReleaseName, chart, "-n",
                            pv::NamespaceFor(kPlaceholderId), "-f", values, "--skip-tests"},
                           rendered);
    std::stringstream text;
    text << std::ifstream(rendered).rdbuf();
    std::filesystem::remove_all(dir);
    if (code != 0)
        throw std::runtime_error("helm template " + chart + " failed (exit " +
                                 std::to_string(code) + ")");

    std::map<std::string, Discovery> discovery;
    std::vector<ChartObject> objects;
    std::string line;
    std::string doc;
    auto flush = [&] {
        YAML::Node node = YAML::Load(doc);
        if (!node.IsMap() || !node["kind"]) {
            doc.clear();
            return;
        }
        const auto api_version = node["apiVersion"].as<std::string>();
        const auto kind = node["kind"].as<std::string>();
        const auto name = node["metadata"]["name"].as<std::string>();
        if (!discovery.count(api_version)) {
            auto list = kube.Get(GroupVersionPath(api_version));
            if (!list.ok())
                throw std::runtime_error("discovery of " + api_version + ": " +
                                         list.error().message);
            for (const auto& resource : (*list)["resources"]) {
                const auto plural = resource.value("name", "");
                if (plural.find('/') != std::string::npos) continue;  // a subresource
                discovery[api_version][resource.value("kind", "")] = {
                    plural, resource.value("namespaced", false)};
            }
        }
        const auto found = discovery[api_version].find(kind);
        if (found == discovery[api_version].end())
            throw std::runtime_error("the API server has no kind " + kind);
        const auto& [plural, namespaced] = found->second;
        const std::string base =
            GroupVersionPath(api_version) +
            (namespaced ? "/namespaces/" + pv::NamespaceFor(kPlaceholderId) : "");
        objects.push_back({base + "/" + plural + "/" + name, doc});
        doc.clear();
    };
    while (std::getline(text, line)) {
        if (line == "---") {
            flush();
        } else {
            doc += line + "\n";
        }
    }
    flush();
    if (objects.empty())
        throw std::runtime_error("helm template " + chart + " rendered no objects");
    return objects;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

struct Request {
    std::string path;
    std::string body;  // JSON or YAML: server-side apply takes either
};

// The chart's objects of one store, in Helm's order, with its id, name and host.
std::vector<Request> ChartRequests(const pv::StoreSpec& spec,
                                   const std::vector<ChartObject>& chart) {
    std::vector<Request> out;
    auto substitute = [&](std::string text) {
        text = ReplaceAll(std::move(text), kPlaceholderId, spec.store_id);
        text = ReplaceAll(std::move(text), kPlaceholderHost, spec.host);
        return ReplaceAll(std::move(text), kPlaceholderName, spec.name);
    };
    for (const auto& object : chart)
        out.push_back({substitute(object.path), substitute(object.yaml)});
    return out;
}

// Every object of one store, in the provisioner's order: namespace, RoleBinding, quota,
// limits, policies, secret, then the chart in Helm's order.
std::vector<Request> StoreRequests(const Options& o, const pv::StoreSpec& spec,
                                   const std::vector<ChartObject>& chart) {
    const std::string ns = pv::NamespaceFor(spec.store_id);
    const std::string base = "/api/v1/namespaces/" + ns;
    std::vector<Request> out;
    out.push_back({base, pv::NamespaceObject(spec, ns).dump()});
    if (!o.service_account.empty()) {
        const auto colon = o.service_account.find(':');
        pv::ProvisionerIdentity identity{
            o.service_account.substr(0, colon), o.service_account.substr(colon + 1),
            o.store_role.empty() ? o.service_account.substr(colon + 1) + "-store" : o.store_role};
        out.push_back({"/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings/" +
                           identity.name,
                       pv::RoleBindingObject(spec.store_id, ns, identity).dump()});
    }
    out.push_back({base + "/resourcequotas/store-quota", pv::ResourceQuotaObject(spec, ns).dump()});
    out.push_back({base + "/limitranges/store-limits", pv::LimitRangeObject(spec, ns).dump()});
    for (const auto& policy : pv::NetworkPolicyObjects(spec, ns, o.ingress_namespace)) {
        out.push_back({"/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies/" +
                           policy["metadata"]["name"].get<std::string>(),
                       policy.dump()});
    }
    out.push_back({base + "/secrets/" + pv::kCredentialsSecret,
                   pv::CredentialsSecretObject(spec, ns).dump()});
    for (auto& request : ChartRequests(spec, chart)) out.push_back(std::move(request));
    return out;
}

struct StoreResult {
    bool ready = false;
    double apply_seconds = 0;
    double ready_seconds = 0;  // apply start to Ready
    Clock::time_point started;
    Clock::time_point finished;
    int retries = 0;
    std::string error;
};

// Applies with retries on what the provisioner retries too (network, 429, 5xx), backing off.
Status ApplyWithRetry(kube::KubeApi& kube, const Request& request, Clock::time_point deadline,
                      int& retries) {
    const std::string path = request.path + "?fieldManager=" + kFieldManager + "&force=true";
    auto backoff = std::chrono::milliseconds(250);
    for (;;) {
        auto response = kube.Call("PATCH", path, request.body, "application/apply-patch+yaml");
        Status status = Status::Ok();
        if (!response.ok()) {
            status = response.error();
        } else if (response->status != 200 && response->status != 201) {
            status = kube::ApiError("PATCH", request.path, *response);
        }
        if (status.ok() || !status.error().retryable() || Clock::now() + backoff > deadline)
            return status;
        ++retries;
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
    }
}

double Percentile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const double rank = q * static_cast<double>(values.size() - 1);
    const auto low = static_cast<std::size_t>(rank);
    const std::size_t high = std::min(low + 1, values.size() - 1);
    return values[low] + (values[high] - values[low]) * (rank - static_cast<double>(low));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double Round(double v, double unit = 0.001) { return std::round(v / unit) * unit; }

double CpuSeconds(int who) {
    rusage usage{};
    getrusage(who, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// One phase's figures (installs, or upgrades): stores Ready, first start to last Ready, the
// rate, and the percentiles of each store's start to Ready.
json PhaseFigures(const std::vector<StoreResult>& results, Clock::time_point start) {
    std::vector<double> ready_seconds;
    double apply_total = 0;
    int retries = 0;
    auto last = start;
    std::string first_error;
    for (const auto& result : results) {
        apply_total += result.apply_seconds;
        retries += result.retries;
        if (result.ready) {
            ready_seconds.push_back(result.ready_seconds);
            last = std::max(last, result.finished);
        } else if (first_error.empty()) {
            first_error = result.error;
        }
    }
    const double span = Seconds(last - start);
    const auto ready = static_cast<int>(ready_seconds.size());
    const auto stores = static_cast<double>(std::max<std::size_t>(1, results.size()));
    json out = {{"ready", ready},
                {"failed", static_cast<int>(results.size()) - ready},
                {"seconds", Round(span, 0.01)},
                {"stores_per_second", span > 0 ? Round(ready / span, 0.01) : 0.0},
                {"apply_to_ready_p50", Round(Percentile(ready_seconds, 0.50))},
                {"apply_to_ready_p95", Round(Percentile(ready_seconds, 0.95))},
                {"apply_to_ready_p99", Round(Percentile(ready_seconds, 0.99))},
                {"apply_to_ready_max", Round(Percentile(ready_seconds, 1.0))},
                {"apply_seconds_mean", Round(apply_total / stores)},
                {"apply_retries", retries}};
    if (!first_error.empty()) out["first_error"] = first_error;
    return out;
}

// What of a store's Deployments and StatefulSets among `requests` has not rolled out, by the
// provisioner's rule on the objects as the API server has them now ("" when all have).
std::string RolledOut(kube::KubeApi& kube, const std::vector<Request>& requests) {
    for (const auto& request : requests) {
        for (const char* kind : {"deployments", "statefulsets"}) {
            if (request.path.find(std::string("/") + kind + "/") == std::string::npos) continue;
            auto live = kube.Get(request.path);
            if (!live.ok()) return request.path + " (" + live.error().message + ")";
            auto state = pv::EvaluateWorkload(kind, *live);
            if (!state.ready) return state.description;
        }
    }
    return "";
}

int Run(const Options& o) {
    kube::KubeClient kube(kube::LoadKubeconfig(o.kubeconfig), kFieldManager);
    const auto render_start = Clock::now();
    const auto chart = RenderChart(o, o.chart, kube);
    const double render_seconds = Seconds(Clock::now() - render_start);

    std::vector<pv::StoreSpec> specs;
    for (int i = 0; i < o.stores; ++i) {
        const std::string name = o.prefix + "-" + std::to_string(i);
        const std::string host = name + ".ceiling.invalid";
        specs.push_back({NewUuid(), o.tenant, name, o.engine, o.plan, host, "admin@" + host});
    }

    ShutdownFlag shutdown;
    pv::ReadinessWatcher watcher(kube, shutdown);
    watcher.Start();
    const auto sync_deadline = Clock::now() + std::chrono::seconds(60);
    while (!watcher.Synced()) {
        if (Clock::now() > sync_deadline)
            throw std::runtime_error("the readiness watch did not sync in 60 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    std::vector<StoreResult> results(specs.size());
    std::atomic<std::size_t> next{0};
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(o.deadline_seconds);
    auto worker = [&] {
        for (std::size_t i = next++; i < specs.size(); i = next++) {
            auto& result = results[i];
            const auto& spec = specs[i];
            const std::string ns = pv::NamespaceFor(spec.store_id);
            result.started = Clock::now();
            for (const auto& request : StoreRequests(o, spec, chart)) {
                if (auto status = ApplyWithRetry(kube, request, deadline, result.retries);
                    !status.ok()) {
                    result.error = status.error().message;
                    break;
                }
            }
            result.apply_seconds = Seconds(Clock::now() - result.started);
            while (result.error.empty()) {
                auto readiness = watcher.Check(ns);
                if (!readiness.ok()) {
                    result.error = readiness.error().message;
                } else if (readiness->ready) {
                    result.ready = true;
                    break;
                } else if (Clock::now() > deadline) {
                    result.error =
                        "not ready before the deadline; waiting for " + readiness->waiting_for;
                } else {
                    watcher.WaitForChange(std::chrono::milliseconds(1000));
                }
            }
            result.finished = Clock::now();
            result.ready_seconds = Seconds(result.finished - result.started);
        }
    };
    std::vector<std::thread> workers;
    for (int i = 0; i < std::min<int>(o.in_flight, o.stores); ++i) workers.emplace_back(worker);
    for (auto& thread : workers) thread.join();

    json out = PhaseFigures(results, start);
    out["stores"] = o.stores;
    out["in_flight"] = o.in_flight;
    out["engine"] = o.engine;
    out["plan"] = o.plan;
    out["chart"] = o.chart;
    out["objects_per_store"] = StoreRequests(o, specs.front(), chart).size();
    out["render_seconds"] = Round(render_seconds);
    bool all_ready = out["ready"] == o.stores;
    if (all_ready && !o.upgrade_to.empty()) {
        const auto target = RenderChart(o, o.upgrade_to, kube);
        std::vector<StoreResult> upgrades(specs.size());
        next = 0;
        const auto upgrade_start = Clock::now();
        const auto upgrade_deadline = upgrade_start + std::chrono::seconds(o.deadline_seconds);
        auto upgrade_worker = [&] {
            for (std::size_t i = next++; i < specs.size(); i = next++) {
                auto& result = upgrades[i];
                result.started = Clock::now();
                const auto requests = ChartRequests(specs[i], target);
                for (const auto& request : requests) {
                    if (auto status =
                            ApplyWithRetry(kube, request, upgrade_deadline, result.retries);
                        !status.ok()) {
                        result.error = status.error().message;
                        break;
                    }
                }
                result.apply_seconds = Seconds(Clock::now() - result.started);
                while (result.error.empty()) {
                    auto waiting = RolledOut(kube, requests);
                    if (waiting.empty()) {
                        result.ready = true;
                    } else if (Clock::now() > upgrade_deadline) {
                        result.error = "not rolled out before the deadline; waiting for " + waiting;
                    } else {
                        std::this_thread::sleep_for(std::chrono::milliseconds(500));
                        continue;
                    }
                    break;
                }
                result.finished = Clock::now();
                result.ready_seconds = Seconds(result.finished - result.started);
            }
        };
        std::vector<std::thread> upgraders;
        for (int i = 0; i < std::min<int>(o.in_flight, o.stores); ++i)
            upgraders.emplace_back(upgrade_worker);
        for (auto& thread : upgraders) thread.join();
        auto upgrade = PhaseFigures(upgrades, upgrade_start);
        upgrade["chart"] = o.upgrade_to;
        all_ready = upgrade["ready"] == o.stores;
        out["upgrade"] = upgrade;
    }
    shutdown.Trigger();
    out["tool_cpu_seconds"] = Round(CpuSeconds(RUSAGE_SELF), 0.01);
    out["helm_template_cpu_seconds"] = Round(CpuSeconds(RUSAGE_CHILDREN), 0.01);
    std::cout << out.dump() << std::endl;
    return all_ready ? 0 : 1;
}

}  // namespace
}  // namespace storefleet::ceiling

int main(int argc, char** argv) {
    try {
        return storefleet::ceiling::Run(storefleet::ceiling::ParseOptions(argc, argv));
    } catch (const std::exception& error) {
        std::cerr << "ceiling: " << error.what() << "\n";
        return 1;
    }
}
