// Which field of a request an error is about, carried in the absl::Status
// itself (a payload under kFieldPayloadUrl), not parsed out of its message.
//
// Validation anywhere (the Queue's options, the REST body parser, the gRPC
// converter) reports a bad field with FieldError("max_attempts", "must be
// 1-25"): the message reads "max_attempts: must be 1-25" as before, and the
// adapters read the field back with ErrorField() to name it in their error
// bodies (REST's "field"; the REST adapter maps the Queue API's snake_case
// names to its camelCase ones). A status without the payload names no field.
#ifndef POPQUEUE_COMMON_FIELD_ERROR_H_
#define POPQUEUE_COMMON_FIELD_ERROR_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace popqueue {

inline constexpr std::string_view kFieldPayloadUrl = "type.popqueue.dev/field";

// An error of `code` (InvalidArgument unless said) about `field`, with the
// message "<field>: <message>".
absl::Status FieldError(std::string_view field, std::string_view message,
                        absl::StatusCode code = absl::StatusCode::kInvalidArgument);

// The field a status is about; "" when it names none.
std::string ErrorField(const absl::Status& status);

// The same error about an element of a larger request: "jobs[2]." before its
// field and its message. A status naming no field keeps naming none; only
// its message gains the prefix. OK stays OK.
absl::Status PrefixField(const absl::Status& status, std::string_view prefix);

}  // namespace popqueue

#endif  // POPQUEUE_COMMON_FIELD_ERROR_H_
