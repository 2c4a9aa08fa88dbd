# Compile options shared by every retain target: warnings on, optionally fatal; sanitizers on request.
add_library(retain_options INTERFACE)
target_compile_options(retain_options INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(RETAIN_WARNINGS_AS_ERRORS)
  target_compile_options(retain_options INTERFACE -Werror)
endif()
if(RETAIN_BUILD_FUZZERS)
  # Every library file carries libFuzzer's coverage hooks and the sanitizers; fuzz/ links the driver.
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RETAIN_BUILD_FUZZERS needs clang (cmake --preset fuzz)")
  endif()
  target_compile_options(retain_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(retain_options INTERFACE -fsanitize=address,undefined)
endif()
if(RETAIN_ASAN)
  target_compile_options(retain_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(retain_options INTERFACE -fsanitize=address,undefined)
endif()
