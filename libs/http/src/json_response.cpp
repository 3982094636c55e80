#include "storefleet/http/json_response.hpp"

namespace storefleet::http {
namespace {

class TextHeader final : public Pistache::Http::Header::Header {
public:
    TextHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
    [[nodiscard]] const char* name() const override { return name_.c_str(); }
    void write(std::ostream& stream) const override { stream << value_; }
    [[nodiscard]] uint64_t hash() const override { return Pistache::Http::Header::detail::hash(name_.c_str()); }

private:
    std::string name_;
    std::string value_;
};

}  // namespace

void SetHeader(Pistache::Http::ResponseWriter& response, std::string name, std::string value) {
    response.headers().add(std::make_shared<TextHeader>(std::move(name), std::move(value)));
}

std::string RequestHeader(const Pistache::Http::Request& request, const std::string& name) {
    auto raw = request.headers().tryGetRaw(name);
    return raw ? raw->value() : "";
}

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body) {
    response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
    response.send(code, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message) {
    SendJson(response, code, {{"error", {{"code", error_code}, {"message", message}}}});
}

}  // namespace storefleet::http
