#pragma once

#include <string>
#include <vector>

namespace storefleet::pg {

// `values` as a Postgres array literal with every element quoted ({"a","b\"c"}), for one
// text[] (or uuid[], ...) parameter of a statement that takes a whole batch at once.
std::string ArrayLiteral(const std::vector<std::string>& values);

}  // namespace storefleet::pg
