#pragma once

#include <pqxx/pqxx>

#include <map>
#include <string>

#include "storefleet/common/result.hpp"

namespace storefleet::pg {

// The Kafka partition count of each topic a service relies on, recorded in
// `<schema>.kafka_partitions` the first time a service sees it, and checked at every later
// start. A store's events are ordered by the offsets of its key's partition, so a topic whose
// partition count changed moves stores to other partitions and breaks their order; a service
// must refuse to run then. Returns a permanent Error (code "partitions_changed") naming every
// topic that differs, with what was recorded and what Kafka has now.
Status CheckPartitionCounts(pqxx::connection& connection, const std::string& schema,
                            const std::map<std::string, int>& counts);

}  // namespace storefleet::pg
