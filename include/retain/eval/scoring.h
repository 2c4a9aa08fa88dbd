// retain/eval/scoring.h — scoring one model answer against its reference (methods.md §0).
//
// Every score is a fraction in [0, 1]. All functions work on bytes and treat only ASCII specially:
// a UTF-8 multi-byte character is never lower-cased, never counted as punctuation or white space.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace retain {

/// The part of a generated continuation that is scored: the first line that is not blank, with
/// surrounding white space removed. Generation runs past the label (the model goes on with
/// "positive.\nTask:..." until eos or the token limit), and the answer format puts the whole label on
/// one line, so everything from the first line break after the answer on is dropped. Leading blank
/// lines are skipped (an answer that starts with "\n" is not thereby empty). Line breaks: "\n", "\r".
/// "positive.\nTask:SC" → "positive."; "\n\n  yes \nno" → "yes"; "  \n " → "".
std::string first_answer_line(std::string_view generation);

/// Lower-cases ASCII letters, deletes ASCII punctuation — exactly the 32 characters of Python's
/// string.punctuation, !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ — (deleted, not replaced by a space:
/// "don't" → "dont", "a-b" → "ab"), collapses runs of ASCII white space (space, \t, \n, \v, \f, \r)
/// to one space and strips it from both ends. Articles are kept (unlike SQuAD's normalisation).
std::string normalize_answer(std::string_view text);

/// 1 when normalize_answer(prediction) == normalize_answer(reference), else 0.
double exact_match(std::string_view prediction, std::string_view reference);

/// Mean exact_match over pairs: the accuracy of a classification task. Throws when the lists differ
/// in length or are empty (a test split without examples has no score).
double classification_accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& references);

/// rouge_score's default tokenizer (no stemmer): lower-case, every run of characters outside
/// [a-z0-9] becomes a separator, empty tokens dropped. "Don't stop!" → ["don", "t", "stop"].
std::vector<std::string> rouge_tokenize(std::string_view text);

/// ROUGE-L F1 (β = 1) as rouge_score's RougeScorer(["rougeL"]).score(reference, prediction)
/// ["rougeL"].fmeasure on ASCII text: LCS length over rouge_tokenize tokens, P = lcs/|prediction|,
/// R = lcs/|reference|, F = 2PR/(P + R); 0 when either side has no token (also both: rouge_score
/// returns 0 there, not 1). This is rouge_score's tokenizer, not normalize_answer: "don't" gives two
/// tokens here.
double rouge_l_f1(std::string_view prediction, std::string_view reference);

/// Levenshtein distance (insert, delete, substitute, each cost 1) between the Unicode code points
/// of two UTF-8 strings; a byte that is not valid UTF-8 counts as one character.
size_t levenshtein_distance(std::string_view a, std::string_view b);

/// 1 − levenshtein_distance / max(length of a, length of b), lengths in characters as above; 1 when
/// both are empty. The metric used for TRACE's Py150 (code completion); no normalisation applied.
double edit_similarity(std::string_view prediction, std::string_view reference);

/// Which score a task reports: task.json "metric".
enum class Metric { Accuracy, ExactMatch, RougeL, EditSimilarity };

/// "accuracy" | "exact_match" | "rouge_l" | "edit_similarity"; throws naming the accepted values.
Metric parse_metric(const std::string& name);
std::string to_string(Metric metric);

/// The score of one answer under `metric` (accuracy and exact_match are both exact_match()).
double score_answer(Metric metric, std::string_view prediction, std::string_view reference);

/// Mean score_answer over pairs; throws when the lists differ in length or are empty.
double mean_score(Metric metric, const std::vector<std::string>& predictions,
                  const std::vector<std::string>& references);

}  // namespace retain
