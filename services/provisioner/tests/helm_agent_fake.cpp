// A stand-in for storefleet-helm-agent that speaks its protocol (helm-agent/PROTOCOL.md: JSON
// lines, concurrent requests, answers in any order), driven by the release name:
//   slow-<ms>  answers ok after <ms> milliseconds
//   hang       answers only when cancelled ("Error: context canceled")
//   die        exits at once (status 3), leaving every other request unanswered
//   echo       fails with the request's values, values files and skip_if_unchanged as the
//              error text
//   pending    installs fail as Helm does on a release left pending until a recover_pending
//              of it (which answers "dropped-first-record"); then they succeed
//   stuck      installs fail as pending, and so does its recover_pending
//   anything else: ok at once (recover_pending: action "none").
// Every start appends its pid to $HOME/fake-agent-starts; every request's op and release
// go to $HOME/fake-agent-requests.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::mutex out_mutex;
std::mutex cancel_mutex;
std::map<int64_t, std::shared_ptr<bool>> cancelled;
bool pending_recovered = false;  // under cancel_mutex

constexpr const char* kInProgress = "another operation (install/upgrade/rollback) is in progress";

void Answer(int64_t id, bool ok, const std::string& error = "", const nlohmann::json& extra = {}) {
    nlohmann::json answer = {{"id", id}, {"ok", ok}};
    if (!ok) answer["error"] = error;
    if (extra.is_object()) answer.update(extra);
    std::lock_guard lock(out_mutex);
    std::cout << answer.dump() << "\n" << std::flush;
}

std::string Home() {
    const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
    return home != nullptr ? home : "/tmp";
}

void Recover(int64_t id, const std::string& release) {
    if (release == "stuck") return Answer(id, false, std::string("Error: ") + kInProgress);
    nlohmann::json recovery = {{"state", ""}, {"revision", 0}, {"action", "none"}};
    if (release == "pending") {
        std::lock_guard lock(cancel_mutex);
        pending_recovered = true;
        recovery = {
            {"state", "pending-install"}, {"revision", 1}, {"action", "dropped-first-record"}};
    }
    Answer(id, true, "", {{"recovery", recovery}});
}

void Handle(const nlohmann::json& request, const std::shared_ptr<bool>& cancel) {
    const int64_t id = request.at("id").get<int64_t>();
    const std::string release = request.value("release", "");
    if (request.value("op", "") == "recover_pending") {
        Recover(id, release);
    } else if (release.rfind("slow-", 0) == 0) {
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
        Answer(id, false,
               "Error: " + request.value("values", nlohmann::json()).dump() + " " +
                   request.value("values_files", nlohmann::json::array()).dump() +
                   " skip_if_unchanged=" +
                   (request.value("skip_if_unchanged", false) ? "true" : "false"));
    } else if (release == "pending" || release == "stuck") {
        bool recovered = false;
        {
            std::lock_guard lock(cancel_mutex);
            recovered = release == "pending" && pending_recovered;
        }
        if (recovered) return Answer(id, true);
        Answer(id, false, std::string("Error: UPGRADE FAILED: ") + kInProgress);
    } else {
        Answer(id, true);
    }
}

}  // namespace

int main() {  // NOLINT(bugprone-exception-escape): a tool; an uncaught exception ending it is its
              // error report
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
