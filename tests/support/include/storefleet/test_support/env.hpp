// Environment variables in tests: the local stack's settings (tests/with-stack exports them)
// and the repository layout ctest passes in.
#pragma once

#include <stdexcept>
#include <string>

namespace storefleet::test_support {

// The value of `name`, or `fallback` when it is unset or empty.
std::string Env(const char* name, const std::string& fallback = "");

// Thrown by RequireEnv; GoogleTest fails the test with this text.
class MissingEnv : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The value of `name`; when it is unset or empty, throws MissingEnv naming the variable and
// saying to run through tests/with-stack, so the test fails at once and says why (usable in
// a fixture's member initialisers: `pg::Pool pool_{RequireEnv("STOREFLEET_PG_URL"), 1};`).
std::string RequireEnv(const char* name);

// STOREFLEET_ROOT: the repository (ctest sets it for the tests that need it).
std::string RepoRoot();
// STOREFLEET_STATE: the local stack's state folder (default <root>/.state/local).
std::string StateDir();

}  // namespace storefleet::test_support
