// retain/core/fault_injection.h — named points where tests kill the process (issue 19).
//
// `fault_point("write")` is a no-op unless the environment variable RETAIN_TEST_FAULT names that
// point: RETAIN_TEST_FAULT="write:3" sends SIGKILL to this process when the third "write" point is
// reached ("step:5,eval:2": whichever comes first). The points:
//   step   after each optimizer step, before anything of it is saved   (train/trainer.cpp)
//   eval   after each evaluation batch                                  (train/evaluator.cpp)
//   write  inside write_file_atomic: the temporary is written, not yet renamed (core/files.cpp)
//   publish  `retain data build`: the new suite exchanged into place, the old not yet removed
// tests/cli/test_cli_faults.cpp kills `retain run` at seeded random points and resumes each time.
#pragma once

#include <string_view>

namespace retain {

/// Kills this process with SIGKILL when RETAIN_TEST_FAULT says this is the moment (see above).
void fault_point(std::string_view name);

}  // namespace retain
