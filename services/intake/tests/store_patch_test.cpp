// PATCH /api/v1/stores/{id} without a database: the merge patch's validation, what it
// changes, and If-Match against the desired state's generation.
#include "store_patch.hpp"

#include <gtest/gtest.h>

namespace storefleet::intake {
namespace {

// The field a refused patch names, or "" when it was accepted.
std::string RefusedField(const std::string& body) {
    auto patch = ParseStorePatch(body);
    if (patch.ok()) return "";
    EXPECT_EQ(patch.error().code, "invalid_request") << body;
    return patch.error().field;
}

TEST(ParseStorePatchTest, TakesPlanSuspendedAndAdminEmail) {
    auto patch =
        ParseStorePatch(R"({"plan":"large","suspended":true,"admin_email":"ops@shop.test"})");
    ASSERT_TRUE(patch.ok()) << patch.error().message;
    EXPECT_EQ(patch->plan, "large");
    EXPECT_EQ(patch->suspended, true);
    EXPECT_EQ(patch->admin_email, "ops@shop.test");

    auto only_suspended = ParseStorePatch(R"({"suspended":false})");
    ASSERT_TRUE(only_suspended.ok());
    EXPECT_FALSE(only_suspended->plan.has_value());
    EXPECT_EQ(only_suspended->suspended, false);
    EXPECT_FALSE(only_suspended->admin_email.has_value());
}

TEST(ParseStorePatchTest, RefusesWhatIsNotAPatchOfTheDesiredStateNamingTheField) {
    EXPECT_EQ(RefusedField("{"), "body");
    EXPECT_EQ(RefusedField("[]"), "body");
    EXPECT_EQ(RefusedField(R"("plan")"), "body");
    EXPECT_EQ(RefusedField("{}"), "body") << "an empty patch changes nothing by mistake";
    EXPECT_EQ(RefusedField(R"({"name":"other"})"), "name") << "a fact never changes";
    EXPECT_EQ(RefusedField(R"({"engine":"medusa"})"), "engine");
    EXPECT_EQ(RefusedField(R"({"plan":"medium","chart_version":"2.0.0"})"), "chart_version")
        << "the chart version is the fleet's to set";
    EXPECT_EQ(RefusedField(R"({"plan":"huge"})"), "plan");
    EXPECT_EQ(RefusedField(R"({"plan":3})"), "plan");
    EXPECT_EQ(RefusedField(R"({"suspended":"true"})"), "suspended");
    EXPECT_EQ(RefusedField(R"({"suspended":1})"), "suspended");
    EXPECT_EQ(RefusedField(R"({"admin_email":"not-an-address"})"), "admin_email");
    EXPECT_EQ(RefusedField(R"({"admin_email":""})"), "admin_email");
    EXPECT_EQ(RefusedField(R"({"admin_email":")" + std::string(95, 'a') + R"(@x.test"})"),
              "admin_email")
        << "longer than 100 characters";
    EXPECT_EQ(RefusedField(R"({"admin_email":true})"), "admin_email");
}

TEST(ParseStorePatchTest, ANullIsRefusedBecauseItWouldDeleteTheMember) {
    for (const char* field : {"plan", "suspended", "admin_email"}) {
        auto patch = ParseStorePatch(std::string(R"({")") + field + R"(":null})");
        ASSERT_FALSE(patch.ok()) << field;
        EXPECT_EQ(patch.error().field, field);
        EXPECT_NE(patch.error().message.find("null"), std::string::npos) << patch.error().message;
        EXPECT_NE(patch.error().message.find("removes"), std::string::npos)
            << "the problem says why a null is refused: " << patch.error().message;
    }
}

TEST(ChangedFieldsTest, OnlyWhatDiffersInTheOrderPlanSuspendedAdminEmail) {
    const DesiredState current{"small", false, "a@shop.test", std::nullopt};
    StorePatch same;
    same.plan = "small";
    same.suspended = false;
    same.admin_email = "a@shop.test";
    EXPECT_TRUE(ChangedFields(current, same).empty());

    StorePatch all;
    all.admin_email = "b@shop.test";
    all.suspended = true;
    all.plan = "medium";
    EXPECT_EQ(ChangedFields(current, all),
              (std::vector<std::string>{"plan", "suspended", "admin_email"}));
    const DesiredState patched = Patched(current, all);
    EXPECT_EQ(patched, (DesiredState{"medium", true, "b@shop.test", std::nullopt}));

    // A store from before the ledger kept its address: any address is a change.
    const DesiredState unknown_email{"small", false, std::nullopt, std::nullopt};
    StorePatch email;
    email.admin_email = "a@shop.test";
    EXPECT_EQ(ChangedFields(unknown_email, email), (std::vector<std::string>{"admin_email"}));
    EXPECT_EQ(Patched(unknown_email, StorePatch{}), unknown_email);
}

TEST(DesiredEtagTest, IsTheGenerationQuoted) {
    EXPECT_EQ(DesiredEtag(1), R"("g1")");
    EXPECT_EQ(DesiredEtag(42), R"("g42")");
}

TEST(IfMatchTest, AbsentOrBlankIsAbsent) {
    for (const char* value : {"", "  ", "\t"}) {
        auto parsed = IfMatch::Parse(value);
        ASSERT_TRUE(parsed.has_value()) << "'" << value << "'";
        EXPECT_TRUE(parsed->Absent());
        EXPECT_FALSE(parsed->Matches(1));
    }
}

TEST(IfMatchTest, StarMatchesEveryGeneration) {
    auto star = IfMatch::Parse(" * ");
    ASSERT_TRUE(star.has_value());
    EXPECT_FALSE(star->Absent());
    EXPECT_TRUE(star->Matches(1));
    EXPECT_TRUE(star->Matches(99));
}

TEST(IfMatchTest, AStrongTagMatchesItsGenerationOnly) {
    auto tag = IfMatch::Parse(R"("g3")");
    ASSERT_TRUE(tag.has_value());
    EXPECT_TRUE(tag->Matches(3));
    EXPECT_FALSE(tag->Matches(2));
    EXPECT_FALSE(tag->Matches(4));
    EXPECT_FALSE(tag->Matches(33));
    const std::string why = tag->Mismatch(4);
    EXPECT_NE(why.find(R"("g4")"), std::string::npos) << why;
    EXPECT_NE(why.find("generation 4"), std::string::npos) << why;
}

TEST(IfMatchTest, AListMatchesWhenAnyOfItsTagsDoes) {
    auto list = IfMatch::Parse(R"("g1", "abc" ,"g7",)");
    ASSERT_TRUE(list.has_value());
    EXPECT_TRUE(list->Matches(1));
    EXPECT_TRUE(list->Matches(7));
    EXPECT_FALSE(list->Matches(2));
}

TEST(IfMatchTest, AWeakTagNeverMatchesAndTheDetailSaysWhy) {
    auto weak = IfMatch::Parse(R"(W/"g3")");
    ASSERT_TRUE(weak.has_value());
    EXPECT_FALSE(weak->Absent());
    EXPECT_FALSE(weak->Matches(3)) << "If-Match compares strongly (RFC 9110 13.1.1)";
    EXPECT_NE(weak->Mismatch(3).find("weak"), std::string::npos) << weak->Mismatch(3);
}

TEST(IfMatchTest, TagsThatNameNoGenerationNeverMatch) {
    for (const char* value : {R"("3")", R"("g")", R"("g0")", R"("g03")", R"("gx")", R"("G3")",
                              R"("g18446744073709551616")"}) {
        auto parsed = IfMatch::Parse(value);
        ASSERT_TRUE(parsed.has_value()) << value;
        EXPECT_FALSE(parsed->Matches(3)) << value;
        EXPECT_FALSE(parsed->Matches(0)) << value;
    }
}

TEST(IfMatchTest, MalformedValuesAreRefused) {
    for (const char* value : {"g3", R"("g3)", R"(g3")", R"("g3" "g4")", "*, \"g3\"", "**",
                              R"(W/g3)", R"(w/"g3")", ",", R"("g"3")", R"("g3 ")", "\"g\x01\""}) {
        EXPECT_FALSE(IfMatch::Parse(value).has_value()) << value;
    }
}

}  // namespace
}  // namespace storefleet::intake
