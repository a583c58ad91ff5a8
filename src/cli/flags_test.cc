#include "cli/flags.h"

#include "cli/common.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popqueue::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FlagSet TestFlags() {
  FlagSet f("test", "<arg> [flags]", "A test command.");
  f.AddValue("name", "NAME", "a name");
  f.AddValue("n", "N", "a number");
  f.AddValue("wait", "DURATION", "a duration");
  f.AddValue("tag", "TAG", "repeatable", /*repeatable=*/true);
  f.AddBool("json", "json output");
  AddConnectionFlags(f);
  return f;
}

TEST(FlagSetTest, BothValueFormsAndPositionals) {
  FlagSet f = TestFlags();
  ASSERT_TRUE(f.Parse({"a", "--name", "x", "b", "--n=5", "--json"}).ok());
  EXPECT_THAT(f.positional(), ElementsAre("a", "b"));
  EXPECT_EQ(f.Get("name"), "x");
  EXPECT_EQ(**f.GetInt("n", 0, 10), 5);
  EXPECT_TRUE(f.GetBool("json"));
  EXPECT_FALSE(f.Has("wait"));
  EXPECT_EQ(*f.GetDuration("wait"), std::nullopt);
}

TEST(FlagSetTest, ValueMayLookLikeAFlagOrBeEmpty) {
  FlagSet f = TestFlags();
  ASSERT_TRUE(f.Parse({"--n", "-5", "--name", "-", "--wait="}).ok());
  EXPECT_EQ(**f.GetInt("n", -10, 10), -5);
  EXPECT_EQ(f.Get("name"), "-");
  EXPECT_EQ(f.Get("wait"), "");
}

TEST(FlagSetTest, LastWinsUnlessRepeatable) {
  FlagSet f = TestFlags();
  ASSERT_TRUE(f.Parse({"--name", "a", "--name", "b", "--tag", "x", "--tag=y"}).ok());
  EXPECT_EQ(f.Get("name"), "b");
  EXPECT_THAT(f.GetAll("tag"), ElementsAre("x", "y"));
}

TEST(FlagSetTest, DoubleDashEndsFlags) {
  FlagSet f = TestFlags();
  ASSERT_TRUE(f.Parse({"--", "--name", "-x"}).ok());
  EXPECT_THAT(f.positional(), ElementsAre("--name", "-x"));
}

TEST(FlagSetTest, HelpAnywhere) {
  for (const char* h : {"--help", "-h"}) {
    FlagSet f = TestFlags();
    ASSERT_TRUE(f.Parse({"a", h}).ok());
    EXPECT_TRUE(f.help_requested());
  }
  FlagSet f = TestFlags();
  std::string help = f.Help();
  EXPECT_THAT(help, HasSubstr("Usage: popqueue test <arg> [flags]"));
  EXPECT_THAT(help, HasSubstr("--name NAME"));
  EXPECT_THAT(help, HasSubstr("--help"));
  EXPECT_THAT(help, HasSubstr("Connection flags"));
  EXPECT_THAT(help, HasSubstr("--db-url URL"));
}

TEST(FlagSetTest, ErrorsNameTheFlag) {
  {
    FlagSet f = TestFlags();
    absl::Status s = f.Parse({"--nope"});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("unknown flag --nope"));
  }
  {
    FlagSet f = TestFlags();
    EXPECT_THAT(f.Parse({"-x"}).message(), HasSubstr("-x"));
  }
  {
    FlagSet f = TestFlags();
    EXPECT_THAT(f.Parse({"--name"}).message(), HasSubstr("--name needs a value"));
  }
  {
    // The next argument is one of the command's flags: the value is missing.
    FlagSet f = TestFlags();
    EXPECT_THAT(f.Parse({"--name", "--json"}).message(), HasSubstr("--name needs a value"));
    FlagSet g = TestFlags();
    ASSERT_TRUE(g.Parse({"--name=--json"}).ok());
    EXPECT_EQ(g.Get("name"), "--json");
  }
  {
    FlagSet f = TestFlags();
    EXPECT_THAT(f.Parse({"--json=yes"}).message(), HasSubstr("--json"));
  }
  {
    FlagSet f = TestFlags();
    ASSERT_TRUE(f.Parse({"--n", "11", "--wait", "5"}).ok());
    EXPECT_THAT(f.GetInt("n", 0, 10).status().message(),
                HasSubstr("--n: expected an integer from 0 to 10"));
    EXPECT_THAT(f.GetDuration("wait").status().message(), HasSubstr("--wait: expected a duration"));
  }
}

TEST(FlagSetTest, Durations) {
  FlagSet f = TestFlags();
  ASSERT_TRUE(f.Parse({"--wait", "1h30m"}).ok());
  EXPECT_EQ(**f.GetDuration("wait"), absl::Minutes(90));
  FlagSet g = TestFlags();
  ASSERT_TRUE(g.Parse({"--wait", "-1s"}).ok());
  EXPECT_FALSE(g.GetDuration("wait").ok());
}

TEST(ParseJobIdTest, AcceptsPositiveIntegersOnly) {
  EXPECT_EQ(*ParseJobId("<id>", "7263518263541760001"), 7263518263541760001);
  for (const char* bad : {"", "abc", "12x", "0", "-3", "99999999999999999999"}) {
    absl::StatusOr<int64_t> id = ParseJobId("<id>", bad);
    EXPECT_FALSE(id.ok()) << bad;
    EXPECT_THAT(id.status().message(), HasSubstr("<id>")) << bad;
  }
}

TEST(SplitListTest, TrimsAndDropsEmpty) {
  EXPECT_THAT(SplitList(" a, b,,c ,"), ElementsAre("a", "b", "c"));
  EXPECT_TRUE(SplitList("").empty());
}

TEST(PrintableTest, EscapesControlsAndCuts) {
  EXPECT_EQ(Printable("a\nb\tc"), "a\\nb\\tc");
  EXPECT_EQ(Printable("\x01z"), "?z");
  EXPECT_EQ(Printable("ab\xff"), "ab?");
  EXPECT_EQ(Printable("héllo wörld", 5), "héllo...");
  EXPECT_EQ(Printable("short", 5), "short");
  EXPECT_EQ(DisplayWidth("héllo"), 5u);
}

}  // namespace
}  // namespace popqueue::cli
