#include "storefleet/common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace storefleet::log {
namespace {

std::string& ServiceName() {
    static std::string name = "storefleet";
    return name;
}

bool LooksSecret(std::string key) {
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static constexpr std::array<std::string_view, 6> kWords = {
        "password", "token", "secret", "credential", "authorization", "private_key"};
    return std::any_of(kWords.begin(), kWords.end(),
                       [&](std::string_view word) { return key.find(word) != std::string::npos; });
}

void Write(spdlog::level::level_enum level, std::string_view msg, Fields fields) {
    auto logger = spdlog::default_logger_raw();
    if (!logger->should_log(level)) return;
    logger->log(level, "{}", FormatBody(msg, std::move(fields)));
}

}  // namespace

std::string FormatBody(std::string_view msg, Fields fields) {
    Fields line = Fields::object();
    line["service"] = ServiceName();
    line["msg"] = std::string(msg);
    if (fields.is_object()) {
        for (auto& [key, value] : fields.items()) {
            line[key] = LooksSecret(key) ? Fields("[redacted]") : value;
        }
    }
    std::string body = line.dump(-1, ' ', false, Fields::error_handler_t::replace);
    // Drop the outer braces: the pattern adds ts and level in front.
    return body.substr(1, body.size() - 2);
}

void Init(const std::string& service, const std::string& level) {
    ServiceName() = service;
    auto logger = spdlog::stderr_logger_mt("storefleet");
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                        spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

void Debug(std::string_view msg, Fields fields) {
    Write(spdlog::level::debug, msg, std::move(fields));
}
void Info(std::string_view msg, Fields fields) {
    Write(spdlog::level::info, msg, std::move(fields));
}
void Warn(std::string_view msg, Fields fields) {
    Write(spdlog::level::warn, msg, std::move(fields));
}
void Error(std::string_view msg, Fields fields) {
    Write(spdlog::level::err, msg, std::move(fields));
}

}  // namespace storefleet::log
