// Holds one service's SQL to what other schemas expose for it (their views and functions, or a
// table documented as the contract). Compiled per service with:
//   STOREFLEET_SCAN_DIR        the service's src folder (every .cpp and .hpp in it is read)
//   STOREFLEET_FOREIGN_SCHEMAS schemas the service does not own, space-separated; "{schema}"
//                              stands for the read model's configurable schema
//   STOREFLEET_CONTRACT_NAMES  what it may name there, "schema.name", space-separated
// A name like intake.stores anywhere in the sources (SQL, or a comment) fails the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::set<std::string> Words(const std::string& text) {
    std::istringstream in(text);
    std::set<std::string> words;
    for (std::string word; in >> word;) words.insert(word);
    return words;
}

// Every "schema.name" of `text` whose schema is in `schemas` ("{schema}" read as "read").
std::vector<std::string> ForeignNames(const std::string& text,
                                      const std::set<std::string>& schemas) {
    static const std::regex kQualified(
        R"((^|[^A-Za-z0-9_.])(\{schema\}|[a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*))");
    std::vector<std::string> names;
    for (std::sregex_iterator it(text.begin(), text.end(), kQualified), end; it != end; ++it) {
        const std::string schema = (*it)[2];
        if (schemas.count(schema) == 0) continue;
        names.push_back((schema == "{schema}" ? std::string("read") : schema) + "." +
                        (*it)[3].str());
    }
    return names;
}

TEST(SchemaContractTest, TheScanFindsQualifiedNames) {
    const std::set<std::string> schemas = {"intake", "read", "{schema}"};
    EXPECT_EQ(ForeignNames("select 1 from intake.stores i join read.stores r", schemas),
              (std::vector<std::string>{"intake.stores", "read.stores"}));
    EXPECT_EQ(ForeignNames("from {schema}.store_events e", schemas),
              (std::vector<std::string>{"read.store_events"}));
    EXPECT_TRUE(
        ForeignNames("config.read_schema, pool.read(), x.intake_id, spread.x", schemas).empty());
}

TEST(SchemaContractTest, SourcesNameOnlyWhatOtherSchemasExpose) {
    const std::set<std::string> schemas = Words(STOREFLEET_FOREIGN_SCHEMAS);
    const std::set<std::string> allowed = Words(STOREFLEET_CONTRACT_NAMES);
    int files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(STOREFLEET_SCAN_DIR)) {
        const auto extension = entry.path().extension();
        if (extension != ".cpp" && extension != ".hpp") continue;
        ++files;
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        for (const auto& name : ForeignNames(text.str(), schemas)) {
            EXPECT_TRUE(allowed.count(name) != 0)
                << entry.path().string() << " names " << name
                << ", which its schema does not expose; read "
                << "one of: " << STOREFLEET_CONTRACT_NAMES
                << " (or have the owner expose a view or function)";
        }
    }
    EXPECT_GT(files, 0) << "nothing to read in " << STOREFLEET_SCAN_DIR;
}

}  // namespace
