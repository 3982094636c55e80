#include "storefleet/kube/client.hpp"

#include <curl/curl.h>

#include <algorithm>

namespace storefleet::kube {
namespace {

std::size_t Collect(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

struct CurlGlobal {
    CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

void SetBlob(CURL* curl, CURLoption option, const std::string& pem) {
    curl_blob blob{};
    blob.data = const_cast<char*>(pem.data());  // NOLINT: curl copies it (CURL_BLOB_COPY)
    blob.len = pem.size();
    blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(curl, option, &blob);
}

}  // namespace

Error ApiError(const std::string& method, const std::string& path, const ApiResponse& response) {
    std::string message;
    try {
        auto status = nlohmann::json::parse(response.body);
        message = status.value("message", "");
    } catch (const std::exception&) {
        message = response.body.substr(0, 200);
    }
    const std::string text = "Kubernetes API " + method + " " + path + " answered " +
                             std::to_string(response.status) + ": " + message;
    if (response.status == 404) return Error::Permanent("not_found", text);
    if (response.status == 409) return Error::Retryable("conflict", text);
    if (response.status == 429 || response.status >= 500)
        return Error::Retryable("k8s_unavailable", text);
    if (response.status == 401 || response.status == 403)
        return Error::Permanent("k8s_forbidden", text);
    return Error::Permanent("k8s_rejected", text);
}

Result<nlohmann::json> KubeApi::Get(const std::string& path) {
    auto response = Call("GET", path);
    if (!response.ok()) return response.error();
    if (response->status != 200) return ApiError("GET", path, *response);
    return nlohmann::json::parse(response->body);
}

Result<nlohmann::json> KubeApi::Apply(const std::string& path, const nlohmann::json& object) {
    const std::string full = path + (path.find('?') == std::string::npos ? "?" : "&") +
                             "fieldManager=storefleet&force=true";
    auto response = Call("PATCH", full, object.dump(), "application/apply-patch+yaml");
    if (!response.ok()) return response.error();
    if (response->status != 200 && response->status != 201)
        return ApiError("PATCH", path, *response);
    return nlohmann::json::parse(response->body);
}

Status KubeApi::Watch(const std::string&, const std::function<void(const std::string&)>&,
                      const std::function<bool()>&) {
    return Error::Permanent("watch_unsupported", "this client cannot watch");
}

Status KubeApi::Delete(const std::string& path) {
    auto response = Call("DELETE", path);
    if (!response.ok()) return response.error();
    if (response->status == 404 || response->status == 200 || response->status == 202)
        return Status::Ok();
    return ApiError("DELETE", path, *response);
}

KubeClient::KubeClient(ClusterCredentials credentials, std::string field_manager,
                       std::chrono::milliseconds request_timeout)
    : credentials_(std::move(credentials)),
      field_manager_(std::move(field_manager)),
      request_timeout_(request_timeout) {
    static CurlGlobal global;
}

KubeClient::~KubeClient() {
    for (void* handle : handles_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* KubeClient::TakeHandle() {
    {
        std::lock_guard lock(mutex_);
        if (!handles_.empty()) {
            void* handle = handles_.back();
            handles_.pop_back();
            return handle;
        }
    }
    return NewHandle();
}

void* KubeClient::NewHandle() {
    CURL* curl = curl_easy_init();
    if (!credentials_.ca_pem.empty()) SetBlob(curl, CURLOPT_CAINFO_BLOB, credentials_.ca_pem);
    if (!credentials_.client_cert_pem.empty()) {
        SetBlob(curl, CURLOPT_SSLCERT_BLOB, credentials_.client_cert_pem);
        curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!credentials_.client_key_pem.empty()) {
        SetBlob(curl, CURLOPT_SSLKEY_BLOB, credentials_.client_key_pem);
        curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (credentials_.insecure_skip_verify) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    const long timeout_ms = static_cast<long>(request_timeout_.count());
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(5000L, timeout_ms));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    return curl;
}

void KubeClient::ReturnHandle(void* handle) {
    std::lock_guard lock(mutex_);
    handles_.push_back(handle);
}

Result<ApiResponse> KubeClient::Call(const std::string& method, const std::string& path,
                                     const std::string& body, const std::string& content_type) {
    CURL* curl = static_cast<CURL*>(TakeHandle());
    ApiResponse response;
    const std::string url = credentials_.server + path;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
    if (!credentials_.bearer_token.empty()) {
        headers = curl_slist_append(headers,
                                    ("Authorization: Bearer " + credentials_.bearer_token).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    // Handles are reused: reset the method and body of the previous request every time.
    if (body.empty() && (method == "GET" || method == "DELETE")) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method == "GET" ? nullptr : method.c_str());
    const auto started = std::chrono::steady_clock::now();
    CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    if (observer_)
        observer_(std::chrono::steady_clock::now() - started,
                  code == CURLE_OK ? response.status : 0L);
    if (code != CURLE_OK) {
        curl_easy_cleanup(curl);  // a failed connection is not worth reusing
        return Error::Retryable("k8s_unreachable", "Kubernetes API " + method + " " + path +
                                                       " failed: " + curl_easy_strerror(code));
    }
    ReturnHandle(curl);
    return response;
}

}  // namespace storefleet::kube

namespace storefleet::kube {
namespace {

struct WatchStream {
    std::string buffer;
    const std::function<void(const std::string&)>* on_event;
    const std::function<bool()>* stop;
};

std::size_t StreamLines(char* data, std::size_t size, std::size_t count, void* user) {
    auto* stream = static_cast<WatchStream*>(user);
    stream->buffer.append(data, size * count);
    std::size_t start = 0;
    for (std::size_t newline; (newline = stream->buffer.find('\n', start)) != std::string::npos;
         start = newline + 1) {
        if (newline > start) (*stream->on_event)(stream->buffer.substr(start, newline - start));
    }
    stream->buffer.erase(0, start);
    return size * count;
}

int AbortWhenStopped(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return (*static_cast<WatchStream*>(user)->stop)() ? 1 : 0;
}

}  // namespace

Status KubeClient::Watch(const std::string& path,
                         const std::function<void(const std::string&)>& on_event,
                         const std::function<bool()>& stop) {
    // A handle of its own: the stream stays open for minutes.
    CURL* curl = static_cast<CURL*>(NewHandle());
    WatchStream stream{"", &on_event, &stop};
    const std::string url = credentials_.server + path;
    curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
    if (!credentials_.bearer_token.empty()) {
        headers = curl_slist_append(headers,
                                    ("Authorization: Bearer " + credentials_.bearer_token).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, StreamLines);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &stream);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortWhenStopped);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stream);
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (code == CURLE_ABORTED_BY_CALLBACK) return Status::Ok();
    if (code != CURLE_OK) {
        return Error::Retryable("k8s_unreachable",
                                "watch " + path + " failed: " + curl_easy_strerror(code));
    }
    if (status != 200) return ApiError("GET", path, {status, stream.buffer});
    return Status::Ok();
}

}  // namespace storefleet::kube
