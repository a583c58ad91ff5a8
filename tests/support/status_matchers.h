// Assertions on absl::Status and absl::StatusOr for any test:
//
//   PQ_ASSERT_OK(store.QueuePause(...));
//   PQ_ASSERT_OK_AND_ASSIGN(auto jobs, store.JobClaim(...));
//   PQ_EXPECT_CODE(store.JobGet({.id = 9}), absl::StatusCode::kNotFound);
//   PQ_EXPECT_FIELD(store.JobClaim({.limit = -1, ...}), "limit");
//
// Each prints the status on failure. PQ_EXPECT_FIELD checks a
// kInvalidArgument that names its field (common/field_error.h).
#ifndef POPQUEUE_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define POPQUEUE_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/field_error.h"
#include "gtest/gtest.h"

namespace popqueue::testing {
inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace popqueue::testing

#define PQ_CONCAT_INNER(a, b) a##b
#define PQ_CONCAT(a, b) PQ_CONCAT_INNER(a, b)
#define PQ_ASSERT_OK(expr)                                               \
  do {                                                                   \
    const absl::Status pq_status_ = ::popqueue::testing::ToStatus(expr); \
    ASSERT_TRUE(pq_status_.ok()) << pq_status_;                          \
  } while (false)
#define PQ_EXPECT_OK(expr)                                               \
  do {                                                                   \
    const absl::Status pq_status_ = ::popqueue::testing::ToStatus(expr); \
    EXPECT_TRUE(pq_status_.ok()) << pq_status_;                          \
  } while (false)
#define PQ_ASSERT_OK_AND_ASSIGN(lhs, expr)                                                       \
  auto PQ_CONCAT(pq_result_, __LINE__) = (expr);                                                 \
  ASSERT_TRUE(PQ_CONCAT(pq_result_, __LINE__).ok()) << PQ_CONCAT(pq_result_, __LINE__).status(); \
  lhs = std::move(*PQ_CONCAT(pq_result_, __LINE__))
#define PQ_EXPECT_CODE(expr, code_)                                      \
  do {                                                                   \
    const absl::Status pq_status_ = ::popqueue::testing::ToStatus(expr); \
    EXPECT_EQ(pq_status_.code(), code_) << pq_status_;                   \
  } while (false)
#define PQ_EXPECT_FIELD(expr, field_)                                               \
  do {                                                                              \
    const absl::Status pq_status_ = ::popqueue::testing::ToStatus(expr);            \
    EXPECT_EQ(pq_status_.code(), absl::StatusCode::kInvalidArgument) << pq_status_; \
    EXPECT_EQ(::popqueue::ErrorField(pq_status_), field_) << pq_status_;            \
  } while (false)

#endif  // POPQUEUE_TESTS_SUPPORT_STATUS_MATCHERS_H_
