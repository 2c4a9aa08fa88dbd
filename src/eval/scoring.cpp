#include "retain/eval/scoring.h"

#include "retain/core/error.h"

#include <algorithm>
#include <cstdint>

namespace retain {

namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Python's string.punctuation.
bool is_ascii_punct(char c) {
  static constexpr std::string_view kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  return kPunctuation.find(c) != std::string_view::npos;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && is_ascii_space(s[begin])) ++begin;
  while (end > begin && is_ascii_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

// Code points of a UTF-8 string; an invalid or truncated sequence yields its first byte as one unit
// (offset into a private range so it cannot equal a valid code point) and decoding resumes after it.
std::vector<uint32_t> code_points(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (b0 < 0x80)
      len = 1, cp = b0;
    else if ((b0 & 0xE0) == 0xC0)
      len = 2, cp = b0 & 0x1F;
    else if ((b0 & 0xF0) == 0xE0)
      len = 3, cp = b0 & 0x0F;
    else if ((b0 & 0xF8) == 0xF0)
      len = 4, cp = b0 & 0x07;
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (valid) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(0x110000u + b0);
      i += 1;
    }
  }
  return out;
}

void check_pairs(size_t predictions, size_t references, const char* what) {
  RETAIN_CHECK(predictions == references, "eval", "{}: {} predictions for {} references (one per example expected)",
               what, predictions, references);
  RETAIN_CHECK(predictions > 0, "eval", "{}: no examples to score (the test split is empty)", what);
}

}  // namespace

std::string first_answer_line(std::string_view generation) {
  size_t begin = 0;
  while (begin < generation.size() && is_ascii_space(generation[begin])) ++begin;
  size_t end = generation.find_first_of("\r\n", begin);
  if (end == std::string_view::npos) end = generation.size();
  return std::string(trim(generation.substr(begin, end - begin)));
}

std::string normalize_answer(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (is_ascii_punct(c)) continue;
    if (is_ascii_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(ascii_lower(c));
  }
  return out;
}

double exact_match(std::string_view prediction, std::string_view reference) {
  return normalize_answer(prediction) == normalize_answer(reference) ? 1.0 : 0.0;
}

double classification_accuracy(const std::vector<std::string>& predictions,
                               const std::vector<std::string>& references) {
  return mean_score(Metric::Accuracy, predictions, references);
}

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  for (char c : text) {
    c = ascii_lower(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      current.push_back(c);
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

double rouge_l_f1(std::string_view prediction, std::string_view reference) {
  const auto pred = rouge_tokenize(prediction);
  const auto ref = rouge_tokenize(reference);
  if (pred.empty() || ref.empty()) return 0.0;
  // LCS length by dynamic programming, one row at a time: row[k] = LCS(ref[0..r), pred[0..k)).
  std::vector<size_t> prev(pred.size() + 1, 0), row(pred.size() + 1, 0);
  for (size_t r = 0; r < ref.size(); ++r) {
    for (size_t k = 0; k < pred.size(); ++k)
      row[k + 1] = ref[r] == pred[k] ? prev[k] + 1 : std::max(prev[k + 1], row[k]);
    std::swap(prev, row);
  }
  const double lcs = static_cast<double>(prev[pred.size()]);
  const double precision = lcs / static_cast<double>(pred.size());
  const double recall = lcs / static_cast<double>(ref.size());
  if (precision + recall == 0.0) return 0.0;
  return 2.0 * precision * recall / (precision + recall);
}

size_t levenshtein_distance(std::string_view a, std::string_view b) {
  const auto x = code_points(a), y = code_points(b);
  std::vector<size_t> prev(y.size() + 1), row(y.size() + 1);
  for (size_t k = 0; k <= y.size(); ++k) prev[k] = k;
  for (size_t i = 0; i < x.size(); ++i) {
    row[0] = i + 1;
    for (size_t k = 0; k < y.size(); ++k)
      row[k + 1] = std::min({prev[k + 1] + 1, row[k] + 1, prev[k] + (x[i] == y[k] ? 0 : 1)});
    std::swap(prev, row);
  }
  return prev[y.size()];
}

double edit_similarity(std::string_view prediction, std::string_view reference) {
  const size_t longest = std::max(code_points(prediction).size(), code_points(reference).size());
  if (longest == 0) return 1.0;
  return 1.0 - static_cast<double>(levenshtein_distance(prediction, reference)) / static_cast<double>(longest);
}

Metric parse_metric(const std::string& name) {
  if (name == "accuracy") return Metric::Accuracy;
  if (name == "exact_match") return Metric::ExactMatch;
  if (name == "rouge_l") return Metric::RougeL;
  if (name == "edit_similarity") return Metric::EditSimilarity;
  fail("eval", "unknown metric \"{}\" (expected accuracy, exact_match, rouge_l or edit_similarity)", name);
}

std::string to_string(Metric metric) {
  switch (metric) {
    case Metric::Accuracy: return "accuracy";
    case Metric::ExactMatch: return "exact_match";
    case Metric::RougeL: return "rouge_l";
    case Metric::EditSimilarity: return "edit_similarity";
  }
  return "unknown";
}

double score_answer(Metric metric, std::string_view prediction, std::string_view reference) {
  switch (metric) {
    case Metric::Accuracy:
    case Metric::ExactMatch: return exact_match(prediction, reference);
    case Metric::RougeL: return rouge_l_f1(prediction, reference);
    case Metric::EditSimilarity: return edit_similarity(prediction, reference);
  }
  fail("eval", "score_answer: unknown metric value {}", static_cast<int>(metric));
}

double mean_score(Metric metric, const std::vector<std::string>& predictions,
                  const std::vector<std::string>& references) {
  check_pairs(predictions.size(), references.size(), to_string(metric).c_str());
  double sum = 0;
  for (size_t i = 0; i < predictions.size(); ++i) sum += score_answer(metric, predictions[i], references[i]);
  return sum / static_cast<double>(predictions.size());
}

}  // namespace retain
