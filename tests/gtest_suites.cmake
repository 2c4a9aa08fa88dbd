# Run after each build of a test binary (retain_add_gtest): writes the names of its gtest suites,
# one per line, to OUT. Called as cmake -D EXE=<binary> -D OUT=<file> -P gtest_suites.cmake.
#
# `--gtest_list_tests` prints a suite as "Suite." or "Prefix/Suite." (TEST_P) at the start of a
# line, optionally followed by "  # TypeParam = ...", and its tests indented below it.
execute_process(COMMAND "${EXE}" --gtest_list_tests
  OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status TIMEOUT 120)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${status}):\n${listing}${errors}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(suites "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z_][A-Za-z0-9_/]*)\\.( |$)")
    set(suite "${CMAKE_MATCH_1}")
    if(NOT suite MATCHES "(^|/)DISABLED_")
      string(APPEND suites "${suite}\n")
    endif()
  endif()
endforeach()
if(suites STREQUAL "")
  message(FATAL_ERROR "${EXE} lists no test suite:\n${listing}")
endif()
file(WRITE "${OUT}.tmp" "${suites}")
file(RENAME "${OUT}.tmp" "${OUT}")
