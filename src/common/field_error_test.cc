#include "common/field_error.h"

#include "gtest/gtest.h"

namespace popqueue {
namespace {

TEST(FieldError, CarriesTheFieldBesideTheMessage) {
  absl::Status s = FieldError("max_attempts", "must be 1-25");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "max_attempts: must be 1-25");
  EXPECT_EQ(ErrorField(s), "max_attempts");
  EXPECT_EQ(ErrorField(FieldError("data", "too big", absl::StatusCode::kResourceExhausted)),
            "data");
}

TEST(FieldError, AMessageThatLooksLikeAFieldNamesNone) {
  // Only the payload names a field: a message of the same shape does not.
  EXPECT_EQ(ErrorField(absl::InvalidArgumentError("name: must not be empty")), "");
  EXPECT_EQ(ErrorField(absl::OkStatus()), "");
}

TEST(FieldError, PrefixNamesTheElementOfABatch) {
  absl::Status s = PrefixField(FieldError("priority", "out of range"), "jobs[2].");
  EXPECT_EQ(s.message(), "jobs[2].priority: out of range");
  EXPECT_EQ(ErrorField(s), "jobs[2].priority");
  absl::Status plain = PrefixField(absl::InvalidArgumentError("run_at and delay"), "jobs[0].");
  EXPECT_EQ(plain.message(), "jobs[0].run_at and delay");
  EXPECT_EQ(ErrorField(plain), "");
  EXPECT_TRUE(PrefixField(absl::OkStatus(), "jobs[1].").ok());
}

}  // namespace
}  // namespace popqueue
