// retain/train/autocast.h — the mixed-precision setting of `retain run` (run.autocast) and `retain
// pretrain` (--autocast): forward passes under bfloat16 autocast on CUDA, parameters keeping their dtype.
#pragma once

#include "retain/core/settings.h"

#include <utility>

namespace retain {

enum class Autocast { Off, Bf16 };

}  // namespace retain

namespace retain::settings {
template <>
struct EnumNames<Autocast> {
  static constexpr std::pair<const char*, Autocast> values[] = {{"off", Autocast::Off}, {"bf16", Autocast::Bf16}};
};
}  // namespace retain::settings
