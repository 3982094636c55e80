#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace storefleet {

// A random (version 4) UUID in canonical lower-case form, from OpenSSL's CSPRNG.
std::string NewUuid();
[[nodiscard]] bool IsUuid(std::string_view text);

// `bytes` random bytes as lower-case hex: generated passwords and API tokens.
std::string RandomHex(std::size_t bytes);

// SHA-256 of `data` as lower-case hex: how API tokens are stored and compared.
std::string Sha256Hex(std::string_view data);

// Microseconds since the Unix epoch.
int64_t NowMicros();

}  // namespace storefleet
