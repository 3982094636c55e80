#include "helm_failure.hpp"

namespace storefleet::provisioner {
namespace {

std::string LastLines(const std::string& text, std::size_t max_chars = 600) {
    std::string trimmed = text;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' '))
        trimmed.pop_back();
    if (trimmed.size() <= max_chars) return trimmed;
    return "..." + trimmed.substr(trimmed.size() - max_chars);
}

bool Contains(const std::string& text, const char* needle) {
    return text.find(needle) != std::string::npos;
}

}  // namespace

Error ClassifyHelmFailure(const std::string& action, const std::string& output) {
    const std::string detail = "helm " + action + " failed: " + LastLines(output);
    if (Contains(output, "another operation (install/upgrade/rollback) is in progress")) {
        return Error::Retryable("helm_pending", detail);
    }
    // The last record is an interrupted install or uninstall: recovered, then retried.
    if (Contains(output, "has no deployed releases"))
        return Error::Retryable("helm_not_deployed", detail);
    if (Contains(output, "connection refused") || Contains(output, "i/o timeout") ||
        Contains(output, "TLS handshake timeout") ||
        Contains(output, "the server is currently unable") ||
        Contains(output, "Too many requests") || Contains(output, "etcdserver") ||
        Contains(output, "the object has been modified") ||
        Contains(output, "context deadline exceeded") || Contains(output, "is being terminated") ||
        Contains(output, "timed out") || Contains(output, "failed to delete release") ||
        Contains(output, "no route to host") || Contains(output, "unexpected EOF")) {
        return Error::Retryable("helm_transient", detail);
    }
    // A store's chart fits its plan's ResourceQuota, so "exceeded quota" is the quota's usage
    // counted too high: a create cut off by a crash (kill -9 of the agent mid-install) is
    // charged at admission and never stored, and only the quota controller's full resync
    // (--resource-quota-sync-period, 5 min by default) recounts it. Retried until the
    // store's deadline, it passes once recounted.
    if (Contains(output, "exceeded quota")) return Error::Retryable("helm_quota", detail);
    return Error::Permanent("helm_failed", detail);
}

}  // namespace storefleet::provisioner
