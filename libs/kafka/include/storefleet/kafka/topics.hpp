#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"

namespace storefleet::kafka {

// How many partitions `topic` has, from the brokers' metadata. A retryable Error when the
// brokers cannot be reached within `timeout`, a permanent one when the topic is missing.
Result<int> CountPartitions(const std::string& brokers, const std::string& topic,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The partition counts of `topics`, waiting (with backoff, logged) up to `patience` while the
// brokers cannot be reached. A permanent Error for a missing topic, a retryable one when the
// brokers stayed out of reach.
Result<std::map<std::string, int>> WaitForPartitionCounts(const std::string& brokers,
                                                          const std::vector<std::string>& topics,
                                                          std::chrono::seconds patience);

}  // namespace storefleet::kafka
