#include "storefleet/test_support/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace storefleet::test_support {
namespace {

std::size_t Collect(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

}  // namespace

std::string HttpReply::Header(const std::string& name) const {
    std::istringstream lines(headers);
    std::string line;
    const std::string prefix = Lower(name) + ":";
    while (std::getline(lines, line)) {
        if (Lower(line).rfind(prefix, 0) != 0) continue;
        std::string value = line.substr(prefix.size());
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        while (!value.empty() &&
               (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
            value.pop_back();
        }
        return value;
    }
    return "";
}

nlohmann::json HttpReply::Json() const { return nlohmann::json::parse(body, nullptr, false); }

HttpClient::HttpClient(std::string base_url, std::string token, std::chrono::seconds timeout)
    : base_url_(std::move(base_url)), token_(std::move(token)), timeout_(timeout) {}

HttpClient HttpClient::Local(uint16_t port, std::string token, std::chrono::seconds timeout) {
    return HttpClient("http://127.0.0.1:" + std::to_string(port), std::move(token), timeout);
}

HttpClient HttpClient::WithToken(std::string token) const {
    return HttpClient(base_url_, std::move(token), timeout_);
}

HttpReply HttpClient::Send(const std::string& method, const std::string& path,
                           const std::string& body, const std::vector<std::string>& extra) const {
    HttpReply reply;
    CURL* curl = curl_easy_init();
    if (curl == nullptr) {
        reply.error = "curl_easy_init failed";
        return reply;
    }
    const std::string url = base_url_ + path;
    curl_slist* headers = nullptr;
    if (!token_.empty())
        headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
    const bool typed = std::any_of(extra.begin(), extra.end(), [](const std::string& h) {
        return Lower(h).rfind("content-type:", 0) == 0;
    });
    if (!typed) headers = curl_slist_append(headers, "Content-Type: application/json");
    for (const auto& header : extra) headers = curl_slist_append(headers, header.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // tests call from several threads
    const CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
    } else {
        reply.code = -1;
        reply.error = curl_easy_strerror(code);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return reply;
}

}  // namespace storefleet::test_support
