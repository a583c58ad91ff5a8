#include "server/access.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRead[] = "read-secret-0123456789";
constexpr char kWrite[] = "write-secret-0123456789";
constexpr char kAdmin[] = "admin-secret-0123456789";

AccessPolicy Scoped(std::optional<bool> public_reads = std::nullopt) {
  auto p = AccessPolicy::Create({.tokens = {{"viewer", Scope::kRead, kRead},
                                            {"app", Scope::kWrite, kWrite},
                                            {"ops", Scope::kAdmin, kAdmin}},
                                 .public_reads = public_reads});
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

std::string Bearer(const std::string& t) { return "Bearer " + t; }

TEST(AccessTest, ParseTokenEntryNamesTheFieldAndNeverTheSecret) {
  auto t = ParseTokenEntry("ci-1:write:abc:def-0123456789ABCDEF");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->id, "ci-1");
  EXPECT_EQ(t->scope, Scope::kWrite);
  EXPECT_EQ(t->secret, "abc:def-0123456789ABCDEF");  // ':' in a secret is fine

  struct Case {
    std::string entry, field;
  };
  const Case bad[] = {
      {"no-colons-at-all-secretvalue", "id:scope:secret"},
      {"ci:writesecretvalue0123456789", "id:scope:secret"},
      {":write:secretvalue0123456789", "id:"},
      {"c i:write:secretvalue0123456789", "id:"},
      {"ci:wrte:secretvalue0123456789", "scope of token \"ci\""},
      {"ci:Write:secretvalue0123456789", "scope of token \"ci\""},
      {"ci:read:short", "secret of token \"ci\""},
      {"ci:read:has blank in it 0123456789", "secret of token \"ci\""},
  };
  for (const Case& c : bad) {
    auto r = ParseTokenEntry(c.entry);
    ASSERT_FALSE(r.ok()) << c.entry;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
    EXPECT_THAT(r.status().message(), HasSubstr(c.field)) << c.entry;
    EXPECT_THAT(r.status().message(), AllOf(Not(HasSubstr("secretvalue")), Not(HasSubstr("short")),
                                            Not(HasSubstr("wrte")), Not(HasSubstr("blank"))));
  }
}

TEST(AccessTest, CreateRefusesDuplicatesAndPrivateReadsWithoutTokens) {
  auto dup_id =
      AccessPolicy::Create({.tokens = {{"a", Scope::kRead, kRead}, {"a", Scope::kWrite, kWrite}}});
  EXPECT_THAT(dup_id.status().message(), HasSubstr("\"a\" is used twice"));
  auto dup_secret =
      AccessPolicy::Create({.tokens = {{"a", Scope::kRead, kRead}, {"b", Scope::kWrite, kRead}}});
  EXPECT_THAT(dup_secret.status().message(), HasSubstr("same secret"));
  EXPECT_THAT(dup_secret.status().message(), Not(HasSubstr(kRead)));
  auto legacy_clash =
      AccessPolicy::Create({.legacy_token = "x", .tokens = {{"token", Scope::kRead, kRead}}});
  EXPECT_THAT(legacy_clash.status().message(), HasSubstr("single token key"));
  auto no_tokens = AccessPolicy::Create({.public_reads = false});
  EXPECT_THAT(no_tokens.status().message(), HasSubstr("publicReads"));
  auto bad_entry = AccessPolicy::Create({.tokens = {{"a", Scope::kRead, "short"}}});
  EXPECT_THAT(bad_entry.status().message(), HasSubstr("secret of token \"a\""));
}

TEST(AccessTest, ScopesNest) {
  AccessPolicy p = Scoped();
  EXPECT_TRUE(p.enabled());
  EXPECT_FALSE(p.public_reads());
  const struct {
    const char* secret;
    Scope scope;
  } tokens[] = {{kRead, Scope::kRead}, {kWrite, Scope::kWrite}, {kAdmin, Scope::kAdmin}};
  for (Scope needed : {Scope::kOpen, Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    for (const auto& t : tokens) {
      auto c = p.Authorize(Bearer(t.secret), needed);
      if (t.scope >= needed) {
        EXPECT_TRUE(c.ok()) << ScopeName(t.scope) << " for " << ScopeName(needed);
      } else {
        ASSERT_FALSE(c.ok());
        EXPECT_TRUE(absl::IsPermissionDenied(c.status())) << c.status();
        EXPECT_THAT(c.status().message(),
                    HasSubstr("needs scope " + std::string(ScopeName(needed))));
        EXPECT_EQ(RequiredScopeOf(c.status()), needed);
      }
    }
    auto none = p.Authorize("", needed);
    EXPECT_EQ(none.ok(), needed == Scope::kOpen) << ScopeName(needed);
    if (!none.ok()) {
      EXPECT_TRUE(absl::IsUnauthenticated(none.status()));
      EXPECT_EQ(RequiredScopeOf(none.status()), needed);
    }
  }
  auto ops = p.Authorize(Bearer(kAdmin), Scope::kWrite);
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ(ops->id, "ops");
  EXPECT_EQ(ops->scope, Scope::kAdmin);
}

TEST(AccessTest, WrongTokensAndSchemesAreUnauthenticated) {
  AccessPolicy p = Scoped();
  for (const std::string& header :
       {Bearer(std::string(kAdmin) + "x"), Bearer(std::string(kAdmin).substr(1)), Bearer("wrong"),
        std::string("Basic ") + kAdmin, std::string(kAdmin), std::string("Bearer "),
        std::string("Bearer")}) {
    auto c = p.Authorize(header, Scope::kRead);
    ASSERT_FALSE(c.ok()) << header;
    EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << header;
    EXPECT_THAT(c.status().message(), Not(HasSubstr(kAdmin)));
  }
  EXPECT_TRUE(p.Authorize(std::string("bEaReR ") + kAdmin, Scope::kAdmin).ok());
}

TEST(AccessTest, TheSingleTokenKeepsItsMeaning) {
  auto p = AccessPolicy::Create({.legacy_token = "s3cret"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->public_reads());
  // Reads open, with or without (any) token.
  EXPECT_TRUE(p->Authorize("", Scope::kRead).ok());
  EXPECT_TRUE(p->Authorize("Bearer wrong", Scope::kRead).ok());
  // Every mutation needs it; it can do them all.
  EXPECT_TRUE(absl::IsUnauthenticated(p->Authorize("", Scope::kWrite).status()));
  auto c = p->Authorize("Bearer s3cret", Scope::kAdmin);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id, "token");
  // With scoped tokens too, reads become private unless public_reads.
  auto both =
      AccessPolicy::Create({.legacy_token = "s3cret", .tokens = {{"viewer", Scope::kRead, kRead}}});
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->Authorize("", Scope::kRead).ok());
  EXPECT_TRUE(both->Authorize("Bearer s3cret", Scope::kRead).ok());
  // private reads with only the single token, on purpose.
  auto private_reads = AccessPolicy::Create({.legacy_token = "s3cret", .public_reads = false});
  ASSERT_TRUE(private_reads.ok());
  EXPECT_FALSE(private_reads->Authorize("", Scope::kRead).ok());
}

TEST(AccessTest, PublicReadsAndNoTokens) {
  AccessPolicy p = Scoped(/*public_reads=*/true);
  EXPECT_TRUE(p.Authorize("", Scope::kRead).ok());
  EXPECT_FALSE(p.Authorize("", Scope::kWrite).ok());
  auto open = AccessPolicy::Create({});
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(open->enabled());
  for (Scope s : {Scope::kRead, Scope::kWrite, Scope::kAdmin}) {
    auto c = open->Authorize("", s);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->id, "-");
  }
}

TEST(AccessTest, AuditTarget) {
  EXPECT_EQ(AuditTarget({12}, {"mail"}), "job=12 queue=mail");
  EXPECT_EQ(AuditTarget({1, 2, 3}, {"a", "b", "a"}), "jobs=3 ids=1,2,3 queues=a,b");
  EXPECT_EQ(AuditTarget({7}, {}), "job=7");
  EXPECT_EQ(AuditTarget({7}, {"a\nb"}), "job=7 queue=a\\nb");
  std::vector<int64_t> many(25, 5);
  EXPECT_THAT(AuditTarget(many, {}), AllOf(HasSubstr("jobs=25 "), HasSubstr(",...")));
}

}  // namespace
}  // namespace popqueue::server
