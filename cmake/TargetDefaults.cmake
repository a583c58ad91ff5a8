# popqueue_target_defaults(<target>)
#
# The compile flags every popqueue target is built with, in one place:
# -Wall -Wextra (minus two warnings the code base does not follow: unused
# parameters of interface implementations, and designated initializers
# that leave fields at their defaults), and -Werror when POPQUEUE_WERROR is
# ON (.ci/run turns it on, so a warning fails CI but not a developer's or a
# packager's build with another compiler).
option(POPQUEUE_WERROR "Treat compiler warnings as errors (ON in CI)" OFF)

function(popqueue_target_defaults target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
  if(POPQUEUE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
    # GCC 12's flow analysis at -O2 reports these through inlined standard
    # and Abseil code (std::string copies, std::optional<absl::Time>) where
    # nothing is wrong: they stay warnings.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE
        -Wno-error=restrict -Wno-error=maybe-uninitialized)
    endif()
  endif()
endfunction()
