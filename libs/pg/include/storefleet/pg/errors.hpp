#pragma once

#include <exception>

namespace storefleet::pg {

// True when `error` means Postgres cannot be reached or is not accepting work right now
// (connection lost or refused, no pooled connection free, server shutting down or
// starting up, too many connections): the request may be retried, so callers answer 503
// with Retry-After rather than 500.
bool IsUnavailable(const std::exception& error);

}  // namespace storefleet::pg
