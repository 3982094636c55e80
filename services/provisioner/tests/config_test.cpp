#include "config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace storefleet::provisioner {
namespace {

// A folder with a provisioner's neighbours (or not) and a charts folder the config accepts.
class ProvisionerConfigTest : public testing::Test {
protected:
    void SetUp() override {
        dir_ = testing::TempDir() + "/provisioner-config-" + std::to_string(getpid()) + "-" +
               testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ + "/bin");
        std::filesystem::create_directories(dir_ + "/charts");
        std::ofstream(dir_ + "/charts/index.json")
            << R"({"engines": {"woocommerce": {"default": "0.1.0", "versions": {"0.1.0": {"dir": "/w"}}}}})";
        env_ = {{"STOREFLEET_KAFKA_BROKERS", "localhost:9092"},
                {"STOREFLEET_CHART_CATALOGUE", dir_ + "/charts"}};
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string Executable(const std::string& path) {
        std::ofstream(path) << "#!/bin/sh\n";
        chmod(path.c_str(), 0755);
        return path;
    }
    ProvisionerConfig Read() {
        return ProvisionerConfig::FromEnv(
            EnvConfig([this](const std::string& name) -> std::optional<std::string> {
                auto found = env_.find(name);
                if (found == env_.end()) return std::nullopt;
                return found->second;
            }),
            dir_ + "/bin/storefleet-provisioner");
    }

    std::string dir_;
    std::map<std::string, std::string> env_;
};

TEST_F(ProvisionerConfigTest, TheHelmAgentIsTheOneNextToTheProvisionerByDefault) {
    const auto agent = Executable(dir_ + "/bin/storefleet-helm-agent");
    EXPECT_EQ(Read().helm_agent, agent);
}

TEST_F(ProvisionerConfigTest, StorefleetHelmAgentNamesAnotherOne) {
    Executable(dir_ + "/bin/storefleet-helm-agent");
    env_["STOREFLEET_HELM_AGENT"] = Executable(dir_ + "/elsewhere-agent");
    EXPECT_EQ(Read().helm_agent, dir_ + "/elsewhere-agent");
}

TEST_F(ProvisionerConfigTest, AMissingHelmAgentStopsTheStartWithWhatToDo) {
    try {
        Read();
        FAIL() << "started without a helm agent";
    } catch (const ConfigError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(dir_ + "/bin/storefleet-helm-agent"), std::string::npos) << message;
        EXPECT_NE(message.find("STOREFLEET_HELM_AGENT"), std::string::npos) << message;
    }
    // Nor does a folder of that name count.
    std::filesystem::create_directories(dir_ + "/bin/storefleet-helm-agent");
    EXPECT_THROW(Read(), ConfigError);
}

TEST_F(ProvisionerConfigTest, DriftSettings) {
    Executable(dir_ + "/bin/storefleet-helm-agent");
    auto defaults = Read();
    EXPECT_EQ(defaults.drift_mode, DriftMode::kRepair);
    EXPECT_TRUE(defaults.drift_ignore.empty());
    EXPECT_EQ(defaults.drift_max_repairs, 4);
    EXPECT_EQ(defaults.drift_resync, std::chrono::seconds(3600));
    env_["STOREFLEET_DRIFT_MODE"] = "warn";
    env_["STOREFLEET_DRIFT_IGNORE"] = "Deployment/spec.replicas,StatefulSet/spec.replicas";
    env_["STOREFLEET_DRIFT_MAX_REPAIRS"] = "2";
    env_["STOREFLEET_DRIFT_RESYNC_SECONDS"] = "0";
    auto set = Read();
    EXPECT_EQ(set.drift_mode, DriftMode::kWarn);
    EXPECT_EQ(set.drift_ignore.size(), 2U);
    EXPECT_EQ(set.drift_max_repairs, 2);
    EXPECT_EQ(set.drift_resync.count(), 0);
    env_["STOREFLEET_DRIFT_MODE"] = "fix";
    EXPECT_THROW(Read(), ConfigError);
    env_["STOREFLEET_DRIFT_MODE"] = "off";
    env_["STOREFLEET_DRIFT_IGNORE"] = "spec.replicas";
    EXPECT_THROW(Read(), ConfigError);
}

}  // namespace
}  // namespace storefleet::provisioner
