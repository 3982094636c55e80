#include "storefleet/pg/partition_counts.hpp"

namespace storefleet::pg {

Status CheckPartitionCounts(pqxx::connection& connection, const std::string& schema,
                            const std::map<std::string, int>& counts) {
    const std::string table = connection.quote_name(schema) + ".kafka_partitions";
    pqxx::work txn(connection);
    // Serialises replicas starting together (the table is created by the first).
    txn.exec("select pg_advisory_xact_lock(hashtext(" +
             txn.quote("storefleet.partitions." + schema) + "))");
    txn.exec("create schema if not exists " + connection.quote_name(schema));
    txn.exec("create table if not exists " + table +
             " (topic text primary key, partitions int not null, recorded_at timestamptz not null "
             "default now())");
    std::string differences;
    for (const auto& [topic, partitions] : counts) {
        txn.exec_params(
            "insert into " + table + " (topic, partitions) values ($1, $2) on conflict do nothing",
            topic, partitions);
        const int recorded =
            txn.exec_params("select partitions from " + table + " where topic = $1", topic)[0][0]
                .as<int>();
        if (recorded != partitions) {
            differences += (differences.empty() ? "" : "; ") + topic + " had " +
                           std::to_string(recorded) +
                           " partitions when the platform was installed and has " +
                           std::to_string(partitions) + " now";
        }
    }
    txn.commit();
    if (differences.empty()) return Status::Ok();
    return Error::Permanent(
        "partitions_changed",
        differences +
            ". A store's events keep their order only within one partition, so the partition "
            "count of a topic must never change; put it back, or see docs/operations.md "
            "(\"Kafka partitions\")");
}

}  // namespace storefleet::pg
