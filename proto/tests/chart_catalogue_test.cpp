#include "storefleet/events/chart_catalogue.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace storefleet::events {
namespace {

nlohmann::json TwoMedusaVersions() {
    return nlohmann::json::parse(R"({"engines": {
        "medusa": {"chart": "medusa-store", "default": "0.2.0", "versions": {
            "0.2.0": {"dir": "/c/medusa-store/0.2.0", "migrates_data": true, "app_version": "2.21.2"},
            "0.10.0-rc.1": {"dir": "/c/medusa-store/0.10.0-rc.1"},
            "0.1.1": {"dir": "/c/medusa-store/0.1.1", "migrates_data": false}}},
        "woocommerce": {"chart": "woocommerce-store", "default": "0.1.0", "versions": {
            "0.1.0": {"dir": "/c/woocommerce-store/0.1.0"}}}}})");
}

TEST(ChartCatalogueTest, AnEmptyVersionIsTheEnginesDefaultAndUnknownOnesAreNotFound) {
    const auto catalogue = ChartCatalogue::Parse(TwoMedusaVersions());
    ASSERT_TRUE(catalogue.ok()) << catalogue.error().message;
    EXPECT_EQ(catalogue->DefaultVersion("medusa"), "0.2.0");
    ASSERT_NE(catalogue->Find("medusa", ""), nullptr);
    EXPECT_EQ(catalogue->Find("medusa", "")->dir, "/c/medusa-store/0.2.0");
    EXPECT_TRUE(catalogue->Find("medusa", "0.2.0")->migrates_data);
    EXPECT_EQ(catalogue->Find("medusa", "0.2.0")->app_version, "2.21.2");
    EXPECT_FALSE(catalogue->Find("medusa", "0.1.1")->migrates_data);
    EXPECT_EQ(catalogue->Find("medusa", "9.9.9"), nullptr);
    EXPECT_EQ(catalogue->Find("woocommerce", "0.2.0"), nullptr);
    EXPECT_TRUE(catalogue->Offers("woocommerce"));
}

TEST(ChartCatalogueTest, VersionsAreListedInSemanticOrderPreReleasesBeforeTheirRelease) {
    const auto catalogue = ChartCatalogue::Parse(TwoMedusaVersions());
    ASSERT_TRUE(catalogue.ok());
    EXPECT_EQ(catalogue->Versions("medusa"),
              (std::vector<std::string>{"0.1.1", "0.2.0", "0.10.0-rc.1"}));
    EXPECT_TRUE(VersionLess("0.10.0-rc.1", "0.10.0"));
    EXPECT_TRUE(VersionLess("0.9.9", "0.10.0"));
    EXPECT_FALSE(VersionLess("1.0.0", "1.0.0"));
}

TEST(ChartCatalogueTest, AnEngineNotBuiltIsNotOffered) {
    auto index = TwoMedusaVersions();
    index["engines"].erase("woocommerce");
    const auto catalogue = ChartCatalogue::Parse(index);
    ASSERT_TRUE(catalogue.ok());
    EXPECT_FALSE(catalogue->Offers("woocommerce"));
    EXPECT_EQ(catalogue->DefaultVersion("woocommerce"), "");
    EXPECT_EQ(catalogue->Find("woocommerce", ""), nullptr);
}

TEST(ChartCatalogueTest, AMalformedIndexIsRefusedWithWhatIsWrong) {
    auto no_default = TwoMedusaVersions();
    no_default["engines"]["medusa"]["default"] = "0.3.0";
    auto unknown_engine = TwoMedusaVersions();
    unknown_engine["engines"]["magento"] = unknown_engine["engines"]["medusa"];
    auto no_dir = TwoMedusaVersions();
    no_dir["engines"]["medusa"]["versions"]["0.1.1"].erase("dir");
    for (const auto& [index, expected] :
         {std::pair{no_default, "the default 0.3.0 is not one of its versions"},
          std::pair{unknown_engine, "unknown engine magento"},
          std::pair{no_dir, "medusa 0.1.1: needs \"dir\""},
          std::pair{nlohmann::json::array(), "no \"engines\" object"}}) {
        const auto catalogue = ChartCatalogue::Parse(index);
        ASSERT_FALSE(catalogue.ok()) << expected;
        EXPECT_NE(catalogue.error().message.find(expected), std::string::npos)
            << catalogue.error().message;
    }
}

TEST(ChartCatalogueTest, LoadSaysWhichFileIsMissingAndHowToMakeIt) {
    const auto missing = ChartCatalogue::Load("/nonexistent/chart-catalogue");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("/nonexistent/chart-catalogue/index.json"),
              std::string::npos);
    EXPECT_NE(missing.error().message.find("make build"), std::string::npos);
}

TEST(ChartCatalogueTest, TheBuiltCatalogueOffersBothEnginesAndEveryVersionIsAChart) {
    const auto catalogue = ChartCatalogue::Load(STOREFLEET_CHART_CATALOGUE);
    ASSERT_TRUE(catalogue.ok()) << catalogue.error().message;
    for (const std::string engine : {"woocommerce", "medusa"}) {
        ASSERT_TRUE(catalogue->Offers(engine)) << engine;
        for (const auto& version : catalogue->Versions(engine)) {
            EXPECT_TRUE(std::filesystem::exists(
                std::filesystem::path(catalogue->Find(engine, version)->dir) / "Chart.yaml"))
                << engine << " " << version;
        }
    }
}

}  // namespace
}  // namespace storefleet::events
