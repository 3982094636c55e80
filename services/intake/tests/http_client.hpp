// A minimal blocking HTTP client (libcurl) for intake's API tests.
#pragma once

#include <curl/curl.h>

#include <string>

namespace storefleet::intake::testing {

struct Reply {
    long code = 0;
    std::string body;
    std::string headers;
    [[nodiscard]] bool HasHeader(const std::string& line_prefix) const {
        return headers.find(line_prefix) != std::string::npos;
    }
};

inline std::size_t CollectInto(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

// `method` is "POST", "PUT" or "DELETE"; an empty `token` sends no Authorization; `code` is 0
// when the request itself failed.
inline Reply Call(const std::string& method, uint16_t port, const std::string& path, const std::string& token,
                  const std::string& body = "", const std::string& content_type = "application/json") {
    Reply reply;
    CURL* curl = curl_easy_init();
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
    curl_slist* headers = nullptr;
    const std::string authorization = "Authorization: Bearer " + token;
    if (!token.empty()) headers = curl_slist_append(headers, authorization.c_str());
    const std::string type = "Content-Type: " + content_type;
    headers = curl_slist_append(headers, type.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || method == "PUT") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectInto);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectInto);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return reply;
}

}  // namespace storefleet::intake::testing
