// Case 7: deletions at awkward moments (at once, twice, while provisioning) and a namespace
// held by a finalizer: all end deleted with the namespace gone, the tenant told in plain words
// while it is held, and the name taken until the store is really deleted.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "cases.hpp"
#include "fixture.hpp"
#include "provisioner_logs.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {

using test_support::ScopeExit;

void DeletionEdgeCases() {
    const std::string prefix = "f7-" + kRun + "-";
    // Create then delete at once.
    auto at_once = TheApi().CreateStore(prefix + "at-once");
    ASSERT_EQ(at_once.code, 202);
    const std::string at_once_id = at_once.body.value("id", "");
    EXPECT_EQ(TheApi().DeleteStore(at_once_id).code, 202);
    // Delete twice (after it is Ready).
    auto twice = TheApi().CreateStore(prefix + "twice");
    ASSERT_EQ(twice.code, 202);
    const std::string twice_id = twice.body.value("id", "");
    // Delete while provisioning.
    auto during = TheApi().CreateStore(prefix + "during");
    ASSERT_EQ(during.code, 202);
    const std::string during_id = during.body.value("id", "");
    // A namespace held by a finalizer.
    const std::string held_name = prefix + "held";
    auto held = TheApi().CreateStore(held_name);
    ASSERT_EQ(held.code, 202);
    const std::string held_id = held.body.value("id", "");

    EXPECT_TRUE(
        PollUntil([&] { return Status(TheApi().GetStore(during_id).body) == "provisioning"; },
                  std::chrono::seconds(60)))
        << "never saw " << during_id << " provisioning";
    EXPECT_EQ(TheApi().DeleteStore(during_id).code, 202);

    auto ready =
        WaitForStores({{twice_id, {"ready"}}, {held_id, {"ready"}}}, std::chrono::seconds(120));
    ASSERT_EQ(Status(ready[twice_id]), "ready") << ready[twice_id].dump();
    ASSERT_EQ(Status(ready[held_id]), "ready") << ready[held_id].dump();
    EXPECT_EQ(TheApi().DeleteStore(twice_id).code, 202);
    EXPECT_EQ(TheApi().DeleteStore(twice_id).code, 202) << "a repeated DELETE must be accepted";

    // The finalizer: a ConfigMap in the store's namespace that nobody will release.
    const std::string ns = NamespaceOf(held_id);
    const std::string finalizer = "faults.storefleet.dev/hold";
    json config_map = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "faults-hold"}, {"namespace", ns}, {"finalizers", {finalizer}}}},
        {"data", {{"why", "the fault suite holds this namespace"}}}};
    auto created = Kube().Call("POST", "/api/v1/namespaces/" + ns + "/configmaps",
                               config_map.dump(), "application/json");
    ASSERT_TRUE(created.ok());
    ASSERT_LT(created->status, 300) << created->body;
    ScopeExit release([&] {
        (void)Kube().Call("PATCH", "/api/v1/namespaces/" + ns + "/configmaps/faults-hold",
                          R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
    });
    const auto delete_start = Clock::now();
    EXPECT_EQ(TheApi().DeleteStore(held_id).code, 202);
    json stuck;
    // The tenant hears that its deletion is held up, in plain words; what holds the namespace
    // (API-server text naming finalizers) is for the operators, in the provisioner's log.
    const bool reported = PollUntil(
        [&] {
            stuck = TheApi().GetStore(held_id).body;
            const std::string reason = stuck.is_object() && stuck["reason"].is_string()
                                           ? stuck["reason"].get<std::string>()
                                           : "";
            return reason.find("still being removed") != std::string::npos;
        },
        std::chrono::seconds(90));
    EXPECT_TRUE(reported) << "the store's reason does not say its deletion is held up: "
                          << stuck.dump();
    if (reported) {
        Figure("case 7 DELETE -> reason says the deletion is held up",
               Seconds(Clock::now() - delete_start), "s");
        std::cout << "[case 7] stuck store: status " << Status(stuck)
                  << ", reason: " << stuck.value("reason", "") << "\n";
        EXPECT_EQ(stuck.value("reason", "").find(finalizer), std::string::npos)
            << "API-server text reached the tenant: " << stuck.dump();
    }
    const bool logged = PollUntil(
        [&] {
            return AnyProvisionerLogged({"stuck terminating", held_id, finalizer});
        },
        std::chrono::seconds(30));
    EXPECT_TRUE(logged) << "no provisioner log line names what holds " << ns;
    // The name stays taken (and the quota used) until the store is really deleted.
    auto reuse_early = TheApi().CreateStore(held_name);
    EXPECT_EQ(reuse_early.code, 409)
        << "the name of a store not yet deleted was given out again: " << reuse_early.body.dump();
    if (reuse_early.code == 202) (void)TheApi().DeleteStore(reuse_early.body.value("id", ""));

    auto released =
        Kube().Call("PATCH", "/api/v1/namespaces/" + ns + "/configmaps/faults-hold",
                    R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
    ASSERT_TRUE(released.ok());
    EXPECT_LT(released->status, 300) << released->body;
    const auto released_at = Clock::now();

    auto end = WaitForStores({{at_once_id, {"deleted"}},
                              {twice_id, {"deleted"}},
                              {during_id, {"deleted"}},
                              {held_id, {"deleted"}}},
                             std::chrono::seconds(150));
    for (const auto& [what, id] :
         std::map<std::string, std::string>{{"create then delete at once", at_once_id},
                                            {"delete twice", twice_id},
                                            {"delete while provisioning", during_id},
                                            {"namespace held by a finalizer", held_id}}) {
        EXPECT_EQ(Status(end[id]), "deleted") << what << ": " << end[id].dump();
        auto gone =
            Kube().Call("GET", "/api/v1/namespaces/" + NamespaceOf(id), "", "application/json");
        ASSERT_TRUE(gone.ok());
        EXPECT_EQ(gone->status, 404) << what << ": namespace still there";
        auto timeline = CheckTimeline(id);
        EXPECT_EQ(timeline.duplicates, 0) << what;
        if (!timeline.order.empty()) {
            EXPECT_EQ(timeline.order.back(), "deleted") << what;
        }
        std::string order;
        for (const auto& s : timeline.order) order += s + " ";
        std::cout << "[case 7] " << what << ": " << order << "\n";
    }
    if (Status(end[held_id]) == "deleted") {
        Figure("case 7 finalizer removed -> store deleted", Seconds(Clock::now() - released_at),
               "s");
    }
    // The name can be used again once deleted.
    auto reuse = TheApi().CreateStore(held_name);
    EXPECT_EQ(reuse.code, 202) << "name of a deleted store not reusable: " << reuse.body.dump();
    if (reuse.code == 202) {
        const std::string id = reuse.body.value("id", "");
        auto again = WaitForStores({{id, {"ready"}}}, std::chrono::seconds(120));
        EXPECT_EQ(Status(again[id]), "ready") << again[id].dump();
        EXPECT_EQ(TheApi().DeleteStore(id).code, 202);
        auto gone = WaitForStores({{id, {"deleted"}}}, std::chrono::seconds(120));
        EXPECT_EQ(Status(gone[id]), "deleted") << gone[id].dump();
    }
}

}  // namespace storefleet::faults
