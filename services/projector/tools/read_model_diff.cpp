// storefleet-read-model-diff: compares two read models row for row (the replay check).
//
//   storefleet-read-model-diff [--wait SECONDS] [--max-lines N] SCHEMA_A SCHEMA_B
//
// Postgres from STOREFLEET_PG_URL. Typically SCHEMA_A is the live "read" and SCHEMA_B one a
// second projector (fresh STOREFLEET_KAFKA_GROUP, STOREFLEET_READ_SCHEMA=SCHEMA_B) replayed
// from offset 0 of both topics. Compares each partition's stored next offset, then
// stores (every column) and store_events (every column but recorded_at). --wait polls
// while the offsets differ (the replay still catching up), up to SECONDS.
//
// Exit: 0 the same; 1 rows differ (printed); 2 usage, setting or connection error;
// 3 the two have not consumed the same messages (offsets differ; printed).
#include "read_model_diff.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"

using namespace storefleet;

namespace {

constexpr const char* kUsage =
    "usage: storefleet-read-model-diff [--wait SECONDS] [--max-lines N] SCHEMA_A SCHEMA_B\n"
    "  (Postgres from STOREFLEET_PG_URL; exit 0 same, 1 rows differ, 2 error, 3 offsets "
    "differ)\n";

struct Args {
    std::chrono::seconds wait{0};
    std::size_t max_lines = 50;
    std::vector<std::string> schemas;
};

bool ParseCount(const std::string& text, long long max, long long& out) {
    try {
        std::size_t used = 0;
        out = std::stoll(text, &used);
        return used == text.size() && out >= 0 && out <= max;
    } catch (const std::exception&) {
        return false;
    }
}

bool Parse(int argc, char** argv, Args& args) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        long long value = 0;
        if ((arg == "--wait" || arg == "--max-lines") && i + 1 < argc) {
            if (!ParseCount(argv[++i], 1'000'000, value)) return false;
            if (arg == "--wait") {
                args.wait = std::chrono::seconds(value);
            } else {
                args.max_lines = static_cast<std::size_t>(value);
            }
        } else if (!arg.empty() && arg[0] == '-') {
            return false;
        } else {
            args.schemas.push_back(arg);
        }
    }
    return args.schemas.size() == 2;
}

void Print(const projector::ReadModelDiff& diff) {
    std::cout << "stores: " << diff.a << "=" << diff.stores_in_a << " " << diff.b << "="
              << diff.stores_in_b << ", differing " << diff.stores_differing << "\n"
              << "store_events: " << diff.a << "=" << diff.events_in_a << " " << diff.b << "="
              << diff.events_in_b << ", differing " << diff.events_differing << "\n";
    for (const auto& line : diff.offsets) std::cout << "offset " << line << "\n";
    for (const auto& line : diff.stores) std::cout << line << "\n";
    for (const auto& line : diff.events) std::cout << line << "\n";
    if (static_cast<int64_t>(diff.stores.size()) < diff.stores_differing ||
        static_cast<int64_t>(diff.events.size()) < diff.events_differing) {
        std::cout << "(more differences not shown; --max-lines)\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    if (!Parse(argc, argv, args)) {
        std::cerr << kUsage;
        return 2;
    }
    for (const auto& schema : args.schemas) {
        if (!projector::IsPlainIdentifier(schema)) {
            std::cerr << "storefleet-read-model-diff: '" << schema
                      << "' is not a plain schema name\n";
            return 2;
        }
    }
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    if (url == nullptr || *url == '\0') {
        std::cerr << "storefleet-read-model-diff: STOREFLEET_PG_URL is required but not set\n";
        return 2;
    }
    try {
        pqxx::connection connection(url);
        const auto deadline = std::chrono::steady_clock::now() + args.wait;
        for (;;) {
            const auto diff = projector::DiffReadModels(connection, args.schemas[0],
                                                        args.schemas[1], args.max_lines);
            if (!diff.OffsetsEqual() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(500));  // polling
                continue;
            }
            Print(diff);
            if (!diff.OffsetsEqual()) {
                std::cout << "NOT COMPARABLE: the two have not consumed the same messages\n";
                return 3;
            }
            std::cout << (diff.RowsEqual() ? "SAME\n" : "DIFFERENT\n");
            return diff.RowsEqual() ? 0 : 1;
        }
    } catch (const std::exception& error) {
        std::cerr << "storefleet-read-model-diff: " << error.what() << "\n";
        return 2;
    }
}
