// retain/core/suggest.h — "did you mean ...?" for unknown names (keys, task types, metrics, methods).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace retain {

/// Levenshtein distance between two byte strings (insert, delete, substitute: cost 1 each).
size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word` by edit distance, ASCII case ignored, when it is near enough to be
/// a plausible typo: distance ≤ max(2, |word| / 3). Ties go to the earlier candidate. nullopt when
/// nothing is that close (then listing every candidate helps more than a wrong guess).
/// closest_match("lables", {"name", "labels"}) == "labels"; closest_match("xyz", {"labels"}) == nullopt.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean \"labels\"?)" when closest_match finds one, else "" — for error messages.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace retain
