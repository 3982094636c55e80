#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/kube/kubeconfig.hpp"

namespace storefleet::kube {

struct ApiResponse {
    long status = 0;
    std::string body;
};

// The process edge to the Kubernetes API. `path` is the URL path with query, e.g.
// "/api/v1/namespaces/x". Retryable errors: network, 429, 5xx; 4xx are permanent, except
// that Get/Delete report 404 as an Error with code "not_found" callers often expect.
class KubeApi {
public:
    virtual ~KubeApi() = default;
    virtual Result<ApiResponse> Call(const std::string& method, const std::string& path,
                                     const std::string& body = "",
                                     const std::string& content_type = "application/json") = 0;

    Result<nlohmann::json> Get(const std::string& path);
    // Server-side apply: creates or updates the object, owned by our field manager.
    Result<nlohmann::json> Apply(const std::string& path, const nlohmann::json& object);
    // Deletes; a 404 counts as success (already gone).
    Status Delete(const std::string& path);

    // Streams a watch (`path` with ?watch=1...): calls `on_event` with each JSON line until
    // the server ends the stream, an error occurs, or `stop()` turns true. The default
    // (for fakes) says watching is not supported, and callers fall back to polling.
    virtual Status Watch(const std::string& path,
                         const std::function<void(const std::string&)>& on_event,
                         const std::function<bool()>& stop);
};

// The real client, over libcurl. Thread-safe.
class KubeClient final : public KubeApi {
public:
    // `request_timeout` bounds each Call (not Watch streams), connection included.
    explicit KubeClient(ClusterCredentials credentials, std::string field_manager = "storefleet",
                        std::chrono::milliseconds request_timeout = std::chrono::seconds(30));
    ~KubeClient() override;
    KubeClient(const KubeClient&) = delete;
    KubeClient& operator=(const KubeClient&) = delete;

    Result<ApiResponse> Call(const std::string& method, const std::string& path,
                             const std::string& body, const std::string& content_type) override;
    Status Watch(const std::string& path, const std::function<void(const std::string&)>& on_event,
                 const std::function<bool()>& stop) override;
    [[nodiscard]] const std::string& field_manager() const { return field_manager_; }
    // Told about every Call (not Watch streams) once it ends: how long it took and the HTTP
    // status, 0 when no answer came (timeout, refused). Runs on the calling thread. Set it
    // before the first call: it is not synchronised with calls in flight.
    using CallObserver = std::function<void(std::chrono::duration<double> latency, long status)>;
    void SetCallObserver(CallObserver observer) { observer_ = std::move(observer); }

private:
    void* NewHandle();  // a CURL* with the cluster's TLS settings
    void* TakeHandle();
    void ReturnHandle(void* handle);

    ClusterCredentials credentials_;
    std::string field_manager_;
    std::chrono::milliseconds request_timeout_;
    CallObserver observer_;
    std::mutex mutex_;
    std::vector<void*> handles_;  // idle CURL* handles; each keeps its connection alive
};

// Builds the Error for a non-2xx response, using the Status object's message.
Error ApiError(const std::string& method, const std::string& path, const ApiResponse& response);

}  // namespace storefleet::kube
