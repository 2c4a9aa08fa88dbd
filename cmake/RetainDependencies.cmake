# Finds every dependency. On Debian 12 they come from apt (scripts/install-deps.sh); on the GPU
# machine, libtorch comes from the PyTorch wheel (CMAKE_PREFIX_PATH) and the rest from Debian
# packages unpacked into a prefix that is also on CMAKE_PREFIX_PATH (scripts/gpu-deps.sh).

find_package(Torch REQUIRED)
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)

find_path(PCRE2_INCLUDE_DIR pcre2.h REQUIRED)
find_library(PCRE2_LIBRARY NAMES pcre2-8 libpcre2-8.so.0 REQUIRED)
add_library(retain_pcre2 INTERFACE)
target_include_directories(retain_pcre2 SYSTEM INTERFACE ${PCRE2_INCLUDE_DIR})
target_link_libraries(retain_pcre2 INTERFACE ${PCRE2_LIBRARY})
target_compile_definitions(retain_pcre2 INTERFACE PCRE2_CODE_UNIT_WIDTH=8)

# toml++ is used header-only, in one translation unit (src/core/toml.cpp).
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)

find_path(UTF8PROC_INCLUDE_DIR utf8proc.h REQUIRED)
find_library(UTF8PROC_LIBRARY NAMES utf8proc libutf8proc.so.2 REQUIRED)
add_library(retain_utf8proc INTERFACE)
target_include_directories(retain_utf8proc SYSTEM INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(retain_utf8proc INTERFACE ${UTF8PROC_LIBRARY})

# Gumbo (Google's HTML5 parser): the HTML manuals of the pretrain-large corpus (src/suite).
find_path(GUMBO_INCLUDE_DIR gumbo.h REQUIRED)
find_library(GUMBO_LIBRARY NAMES gumbo libgumbo.so.1 REQUIRED)
add_library(retain_gumbo INTERFACE)
target_include_directories(retain_gumbo SYSTEM INTERFACE ${GUMBO_INCLUDE_DIR})
target_link_libraries(retain_gumbo INTERFACE ${GUMBO_LIBRARY})

if(RETAIN_BUILD_TESTS)
  if(RETAIN_GTEST_SOURCE_DIR)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory(${RETAIN_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/_googletest EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gtest_main)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
    include(GoogleTest)
  else()
    find_package(GTest REQUIRED)
    include(GoogleTest)
  endif()
endif()

# libtorch's CUDA build is detected from the package itself.
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES OR CUDA_FOUND)
  set(RETAIN_TORCH_HAS_CUDA ON)
else()
  set(RETAIN_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "retain: libtorch ${Torch_VERSION} (CUDA: ${RETAIN_TORCH_HAS_CUDA})")

# c10d process groups (src/dist): Gloo where its headers are (Debian's libgloo-dev; libtorch_cpu
# exports ProcessGroupGloo), NCCL where libtorch was built with CUDA and ships its header. A CUDA build
# without Gloo headers (PyTorch wheels ship none) has NCCL only; a build with neither is an error.
find_path(GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
add_library(retain_c10d INTERFACE)
if(GLOO_INCLUDE_DIR)
  target_include_directories(retain_c10d SYSTEM INTERFACE ${GLOO_INCLUDE_DIR})
  target_compile_definitions(retain_c10d INTERFACE USE_C10D_GLOO RETAIN_HAS_GLOO=1)
else()
  target_compile_definitions(retain_c10d INTERFACE RETAIN_HAS_GLOO=0)
endif()
set(RETAIN_HAS_NCCL OFF)
if(RETAIN_TORCH_HAS_CUDA)
  find_file(RETAIN_NCCL_HEADER torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp HINTS ${TORCH_INCLUDE_DIRS}
            NO_CACHE)
  if(RETAIN_NCCL_HEADER)
    set(RETAIN_HAS_NCCL ON)
  endif()
endif()
if(RETAIN_HAS_NCCL)
  target_compile_definitions(retain_c10d INTERFACE RETAIN_HAS_NCCL=1 USE_C10D_NCCL)
else()
  target_compile_definitions(retain_c10d INTERFACE RETAIN_HAS_NCCL=0)
endif()
if(NOT GLOO_INCLUDE_DIR AND NOT RETAIN_HAS_NCCL)
  message(FATAL_ERROR "retain: the Gloo headers (gloo/config.h) were not found: apt-get install libgloo-dev "
                      "(scripts/install-deps.sh), or put them on CMAKE_PREFIX_PATH")
endif()
message(STATUS "retain: c10d Gloo headers: ${GLOO_INCLUDE_DIR}, NCCL: ${RETAIN_HAS_NCCL}")
