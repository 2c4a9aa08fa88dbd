// retain/data/ignore_index.h — the label value of tokens that carry no loss.
#pragma once

#include <cstdint>

namespace retain {

/// Label value that carries no loss (prompt tokens, padding), as in Hugging Face.
constexpr int64_t kIgnoreIndex = -100;

}  // namespace retain
