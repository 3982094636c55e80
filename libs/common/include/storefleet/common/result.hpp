#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace storefleet {

// Expected failures are values, classified where they are caught: a retryable one may
// succeed if tried again later (a timeout, a 503, a broker that is down); a permanent
// one will not (bad input, a forbidden request, a chart that does not render).
enum class ErrorKind { kRetryable, kPermanent };

struct Error {
    ErrorKind kind = ErrorKind::kPermanent;
    std::string code;     // short, stable, machine readable: "helm_failed", "k8s_conflict"
    std::string message;  // a sentence a user or operator can act on; never a secret
    std::string field;    // the input at fault ("name"), when one is: APIs report it per field

    static Error Retryable(std::string code, std::string message) {
        return {ErrorKind::kRetryable, std::move(code), std::move(message)};
    }
    static Error Permanent(std::string code, std::string message) {
        return {ErrorKind::kPermanent, std::move(code), std::move(message)};
    }
    static Error Invalid(std::string field, std::string message) {
        return {ErrorKind::kPermanent, "invalid_request", std::move(message), std::move(field)};
    }
    [[nodiscard]] bool retryable() const { return kind == ErrorKind::kRetryable; }
};

// Result<T>: a T or an Error. Result<void> is spelled Status.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : value_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return std::holds_alternative<T>(value_); }
    explicit operator bool() const { return ok(); }

    T& value() & {
        if (!ok()) throw std::logic_error("Result::value() on an error: " + error().message);
        return std::get<T>(value_);
    }
    const T& value() const& {
        if (!ok()) throw std::logic_error("Result::value() on an error: " + error().message);
        return std::get<T>(value_);
    }
    T&& value() && {
        if (!ok()) throw std::logic_error("Result::value() on an error: " + error().message);
        return std::get<T>(std::move(value_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    [[nodiscard]] const Error& error() const { return std::get<Error>(value_); }

private:
    std::variant<T, Error> value_;
};

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
    static Status Ok() { return {}; }

    [[nodiscard]] bool ok() const { return !error_.has_value(); }
    explicit operator bool() const { return ok(); }
    [[nodiscard]] const Error& error() const { return *error_; }

private:
    std::optional<Error> error_;
};

}  // namespace storefleet
