// A stand-in for storefleet-helm-agent that speaks its protocol (JSON lines, concurrent
// requests, answers in any order), driven by the release name:
//   slow-<ms>  answers ok after <ms> milliseconds
//   hang       answers only when cancelled ("Error: context canceled")
//   die        exits at once (status 3), leaving every other request unanswered
//   echo       fails with the request's values and values files as the error text
//   pending    fails as Helm does on a release left pending
//   anything else: ok at once.
// Every start appends its pid to $HOME/fake-agent-starts; every request's op and release
// go to $HOME/fake-agent-requests.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace {

std::mutex out_mutex;
std::mutex cancel_mutex;
std::map<int64_t, std::shared_ptr<bool>> cancelled;

void Answer(int64_t id, bool ok, const std::string& error = "") {
    nlohmann::json answer = {{"id", id}, {"ok", ok}};
    if (!ok) answer["error"] = error;
    std::lock_guard lock(out_mutex);
    std::cout << answer.dump() << "\n" << std::flush;
}

std::string Home() {
    const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
    return home != nullptr ? home : "/tmp";
}

void Handle(const nlohmann::json& request, const std::shared_ptr<bool>& cancel) {
    const int64_t id = request.at("id").get<int64_t>();
    const std::string release = request.value("release", "");
    if (release.rfind("slow-", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(release.substr(5))));
        Answer(id, true);
    } else if (release == "hang") {
        for (;;) {
            {
                std::lock_guard lock(cancel_mutex);
                if (*cancel) break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        Answer(id, false, "Error: context canceled");
    } else if (release == "die") {
        std::_Exit(3);
    } else if (release == "echo") {
        Answer(id, false, "Error: " + request.value("values", nlohmann::json()).dump() + " " +
                              request.value("values_files", nlohmann::json::array()).dump());
    } else if (release == "pending") {
        Answer(id, false, "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress");
    } else {
        Answer(id, true);
    }
}

}  // namespace

int main() {
    std::ofstream(Home() + "/fake-agent-starts", std::ios::app) << getpid() << "\n";
    std::string line;
    while (std::getline(std::cin, line)) {
        const auto request = nlohmann::json::parse(line);
        const std::string op = request.value("op", "");
        const int64_t id = request.at("id").get<int64_t>();
        std::ofstream(Home() + "/fake-agent-requests", std::ios::app)
            << op << " " << request.value("release", "") << "\n";
        if (op == "cancel") {
            std::lock_guard lock(cancel_mutex);
            if (auto found = cancelled.find(id); found != cancelled.end()) *found->second = true;
            continue;
        }
        auto flag = std::make_shared<bool>(false);
        {
            std::lock_guard lock(cancel_mutex);
            cancelled[id] = flag;
        }
        std::thread([request, flag] { Handle(request, flag); }).detach();
    }
    return 0;
}
