// Task loading: the three layouts on tiny hand-written fixtures (tests/fixtures/data), the published
// orders, and every kind of bad input with the message a user needs to fix it.
#include "common/test_support.h"
#include "retain/data/task.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

namespace {

namespace fs = std::filesystem;
using retain::testing::error_of;

fs::path data_fixtures() { return retain::testing::fixtures() / "data"; }

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A valid classification task folder; tests then break one thing.
fs::path valid_task(const std::string& tag) {
  auto dir = retain::testing::temp_dir(tag) / "task";
  write(dir / "task.json", R"({"name": "t", "type": "classification", "labels": ["negative", "positive"]})");
  write(dir / "train.jsonl", "{\"input\": \"good\", \"output\": \"positive\"}\n{\"input\": \"bad\", \"output\": \"negative\"}\n");
  write(dir / "test.jsonl", "{\"input\": \"fine\", \"output\": \"positive\"}\n");
  return dir;
}

TEST(LoadTask, RetainClassificationFolder) {
  auto task = retain::load_task(data_fixtures() / "sentiment");
  EXPECT_EQ(task.name, "tiny_sentiment");
  EXPECT_EQ(task.type, retain::TaskType::Classification);
  EXPECT_EQ(task.labels, (std::vector<std::string>{"negative", "positive"}));
  EXPECT_EQ(task.instruction, "Is the review positive or negative?\n");  // newline added for the O-LoRA layout
  EXPECT_EQ(task.metric, "accuracy");
  EXPECT_EQ(task.prompt_style, retain::PromptStyle::OLoRA);
  EXPECT_EQ(task.task_type_tag, "tiny_sentiment");
  ASSERT_EQ(task.train.size(), 4u);
  EXPECT_EQ(task.dev.size(), 1u);
  EXPECT_EQ(task.test.size(), 2u);
  EXPECT_EQ(task.train[1].input, "Dull and far too long.");
  EXPECT_EQ(task.train[1].output, "negative");
  EXPECT_EQ(task.test[1].input, "A joy to watch.");
  EXPECT_EQ(task.source.rfind("retain:", 0), 0u);
}

TEST(LoadTask, RetainGenerationFolderAndTaskJsonPath) {
  auto task = retain::load_task(data_fixtures() / "echo" / "task.json");  // the file also works
  EXPECT_EQ(task.name, "tiny_echo");
  EXPECT_EQ(task.type, retain::TaskType::Generation);
  EXPECT_TRUE(task.labels.empty());
  EXPECT_EQ(task.metric, "rouge_l");
  EXPECT_EQ(task.prompt_style, retain::PromptStyle::Plain);
  ASSERT_EQ(task.train.size(), 2u);  // the second line's extra "id" key is ignored
  EXPECT_EQ(task.train[1].output, "blue sky");
  EXPECT_TRUE(task.dev.empty());
  EXPECT_EQ(task.test[0].input, "Repeat: green grass\n");
}

TEST(LoadTask, ClBenchmarkDatasetFolder) {
  auto task = retain::load_task(data_fixtures() / "CL_Benchmark" / "TC" / "dbpedia");
  EXPECT_EQ(task.name, "dbpedia");
  EXPECT_EQ(task.task_type_tag, "TC");
  EXPECT_EQ(task.type, retain::TaskType::Classification);
  EXPECT_EQ(task.prompt_style, retain::PromptStyle::OLoRA);
  EXPECT_TRUE(task.list_options);
  EXPECT_EQ(task.instruction, "What is the topic of the following paragraph? Choose one from the option.\n");
  EXPECT_EQ(task.labels, (std::vector<std::string>{"Company", "Artist", "Village"}));
  EXPECT_EQ(task.metric, "accuracy");
  ASSERT_EQ(task.train.size(), 3u);
  EXPECT_EQ(task.dev.size(), 1u);
  ASSERT_EQ(task.test.size(), 3u);
  EXPECT_EQ(task.train[0].input, "Title: Acme Corp\nText: Acme Corp is a maker of anvils.\n");
  EXPECT_EQ(task.train[0].output, "Company");
  EXPECT_EQ(task.test[0].output, "Village");  // the fixture's test split is the train split reversed

  auto copa = retain::load_task(data_fixtures() / "CL_Benchmark" / "COPA" / "COPA/");  // trailing slash
  EXPECT_EQ(copa.name, "COPA");
  EXPECT_EQ(copa.task_type_tag, "COPA");
  EXPECT_EQ(copa.instruction, "");
  EXPECT_FALSE(copa.list_options);
  EXPECT_EQ(copa.labels, (std::vector<std::string>{"A", "B"}));
}

// MNLI in the O-LoRA release has 131 dev/test examples labelled "-" (no gold label); the CB fixture
// has one in test.json.
TEST(LoadTask, ClBenchmarkSkipsNoGoldLabelExamplesAndSaysSo) {
  auto task = retain::load_task(data_fixtures() / "CL_Benchmark" / "NLI" / "CB");
  EXPECT_EQ(task.train.size(), 2u);
  ASSERT_EQ(task.test.size(), 2u);
  for (const auto& e : task.test) EXPECT_NE(e.output, "-");
  ASSERT_EQ(task.notes.size(), 1u);
  EXPECT_EQ(task.notes[0], "test.json: skipped 1 examples labelled \"-\" (no gold label)");
  EXPECT_TRUE(retain::load_task(data_fixtures() / "CL_Benchmark" / "TC" / "dbpedia").notes.empty());
}

TEST(LoadTask, ClBenchmarkInstructionsAreO_LoRAsVerbatim) {
  EXPECT_EQ(retain::cl_benchmark_instruction("NLI"),
            "What is the logical relationship between the \"sentence 1\" and the \"sentence 2\"? Choose one from the "
            "option.\n");
  EXPECT_EQ(retain::cl_benchmark_instruction("SC"),
            "What is the sentiment of the following paragraph? Choose one from the option.\n");
  EXPECT_EQ(retain::cl_benchmark_instruction("QQP"),
            "Whether the \"first sentence\" and the \"second sentence\" have the same meaning? Choose one from the "
            "option.\n");
  EXPECT_EQ(retain::cl_benchmark_instruction("BoolQA"),
            "According to the following passage, is the question true or false? Choose one from the option.\n");
  EXPECT_EQ(retain::cl_benchmark_instruction("MultiRC"),
            "According to the following passage and question, is the candidate answer true or false? Choose one from "
            "the option.\n");
  EXPECT_EQ(retain::cl_benchmark_instruction("WiC"),
            "Given a word and two sentences, whether the word is used with the same sense in both sentence? Choose one "
            "from the option.\n");
  auto message = error_of([] { retain::cl_benchmark_instruction("NLU"); });
  EXPECT_MSG(message, "unknown CL_Benchmark task type \"NLU\" (did you mean \"NLI\"?)");
}

TEST(LoadTask, TraceFolders) {
  auto stance = retain::load_task(data_fixtures() / "TRACE" / "C-STANCE");
  EXPECT_EQ(stance.name, "C-STANCE");
  EXPECT_EQ(stance.type, retain::TaskType::Generation);
  EXPECT_EQ(stance.prompt_style, retain::PromptStyle::Plain);
  EXPECT_EQ(stance.metric, "accuracy");
  EXPECT_EQ(stance.train.size(), 2u);
  EXPECT_EQ(stance.dev.size(), 1u);  // from eval.json
  EXPECT_EQ(stance.test.size(), 2u);
  EXPECT_EQ(stance.train[1].input, "Text: I dislike rain. Stance towards rain? A. favor B. against C. none\nAnswer:");
  EXPECT_EQ(stance.train[1].output, "B");
  EXPECT_EQ(stance.train[0].input.substr(0, 6), "\xe5\x88\xa4\xe6\x96\xad");  // UTF-8 kept as is

  auto meetings = retain::load_task(data_fixtures() / "TRACE" / "MeetingBank");
  EXPECT_EQ(meetings.metric, "rouge_l");
  EXPECT_TRUE(meetings.dev.empty());  // eval.json is optional
  EXPECT_EQ(retain::load_task(data_fixtures() / "TRACE" / "Py150").metric, "edit_similarity");
}

TEST(Benchmark, PublishedOrders) {
  EXPECT_EQ(retain::benchmark_order(1), (std::vector<std::string>{"dbpedia", "amazon", "yahoo", "agnews"}));
  EXPECT_EQ(retain::benchmark_order(2), (std::vector<std::string>{"dbpedia", "amazon", "agnews", "yahoo"}));
  EXPECT_EQ(retain::benchmark_order(3), (std::vector<std::string>{"yahoo", "amazon", "agnews", "dbpedia"}));
  EXPECT_EQ(retain::benchmark_order(4),
            (std::vector<std::string>{"MNLI", "CB", "WiC", "COPA", "QQP", "BoolQA", "RTE", "IMDB", "yelp", "amazon",
                                      "SST-2", "dbpedia", "agnews", "MultiRC", "yahoo"}));
  EXPECT_EQ(retain::benchmark_order(6).front(), "yelp");
  EXPECT_EQ(retain::benchmark_order(5).front(), "MultiRC");
  // The long orders are permutations of the same 15 datasets, each of which has a folder.
  const auto four = retain::benchmark_order(4);
  const std::set<std::string> long_set(four.begin(), four.end());
  ASSERT_EQ(long_set.size(), 15u);
  for (int order : {5, 6}) {
    const auto names = retain::benchmark_order(order);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), long_set) << "order " << order;
  }
  for (const auto& name : long_set) EXPECT_NO_THROW(retain::cl_benchmark_folder(name)) << name;
  EXPECT_EQ(retain::cl_benchmark_folder("Yelp"), "SC/yelp");
  EXPECT_EQ(retain::cl_benchmark_folder("sst-2"), "SC/SST-2");
  EXPECT_EQ(retain::cl_benchmark_folder("BoolQA"), "BoolQA/BoolQA");
  EXPECT_EQ(retain::cl_benchmark_folder("CB"), "NLI/CB");
  auto message = error_of([] { retain::cl_benchmark_folder("agnew"); });
  EXPECT_MSG(message, "did you mean \"agnews\"");
  for (int bad : {0, 7}) {
    message = error_of([bad] { retain::benchmark_order(bad); });
    EXPECT_MSG(message, "unknown benchmark order " + std::to_string(bad));
  }
}

TEST(Benchmark, LoadsAnOrderInTrainingOrder) {
  for (int order : {1, 2, 3}) {
    auto tasks = retain::load_benchmark(data_fixtures() / "CL_Benchmark", order);
    const auto names = retain::benchmark_order(order);
    ASSERT_EQ(tasks.size(), names.size());
    for (size_t i = 0; i < tasks.size(); ++i) EXPECT_EQ(tasks[i].name, names[i]);
  }
  auto tasks = retain::load_benchmark(data_fixtures(), 1);  // the folder holding CL_Benchmark also works
  EXPECT_EQ(tasks[1].task_type_tag, "SC");
  EXPECT_EQ(tasks[1].labels.size(), 5u);
}

TEST(Benchmark, MissingDatasetsAreListedTogether) {
  auto message = error_of([] { retain::load_benchmark(data_fixtures() / "CL_Benchmark", 4); });
  EXPECT_MSG(message, "[data]");
  EXPECT_MSG(message, "order 4");
  EXPECT_MSG(message, "NLI/MNLI");
  EXPECT_MSG(message, "SC/yelp");
  EXPECT_NO_MSG(message, "NLI/CB,");  // present in the fixture tree
}

// ---- bad input --------------------------------------------------------------------------------

TEST(BadTask, FolderWithoutTaskJsonSaysWhatItMustContain) {
  auto dir = valid_task("no_task_json");
  fs::remove(dir / "task.json");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "[data] " + dir.string() + ": no task.json");
  EXPECT_MSG(message, "\"labels\"");
  EXPECT_MSG(message, "train.jsonl and test.jsonl");
}

TEST(BadTask, PathsThatAreNoTask) {
  auto empty = retain::testing::temp_dir("empty_folder");
  auto message = error_of([&] { retain::load_task(empty); });
  EXPECT_MSG(message, "not a task folder");
  EXPECT_MSG(message, "labels.json");
  EXPECT_MSG(message, "eval.json");
  message = error_of([&] { retain::load_task(empty / "nowhere"); });
  EXPECT_MSG(message, "no such file or folder");
  write(empty / "notes.txt", "x");
  message = error_of([&] { retain::load_task(empty / "notes.txt"); });
  EXPECT_MSG(message, "found a file");
}

TEST(BadTask, EmptySplit) {
  auto dir = valid_task("empty_split");
  write(dir / "test.jsonl", "\n  \n");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "test.jsonl").string() + ": empty split");
}

TEST(BadTask, MissingTestSplit) {
  auto dir = valid_task("missing_test");
  fs::remove(dir / "test.jsonl");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "missing test.jsonl");
}

TEST(BadTask, LabelOutsideTheLabelSetNamesFileLineLabelAndSet) {
  auto dir = valid_task("bad_label");
  write(dir / "train.jsonl",
        "{\"input\": \"good\", \"output\": \"positive\"}\n\n{\"input\": \"meh\", \"output\": \"postive\"}\n");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.jsonl").string() + ":3: label \"postive\" is not in the label set " "[\"negative\", \"positive\"]");
  EXPECT_MSG(message, "did you mean \"positive\"");
}

TEST(BadTask, MalformedJsonlLineNamesFileAndLine) {
  auto dir = valid_task("bad_jsonl");
  write(dir / "train.jsonl", "{\"input\": \"good\", \"output\": \"positive\"}\n{\"input\": \"bad\", \"output\": \n");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.jsonl").string() + ":2: malformed JSON line");
}

TEST(BadTask, JsonlLineWithoutOutput) {
  auto dir = valid_task("no_output");
  write(dir / "train.jsonl", "{\"input\": \"good\", \"answer\": \"positive\"}\n");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.jsonl").string() + ":1: missing key \"output\"");
  EXPECT_MSG(message, "found \"answer\", \"input\"");
}

TEST(BadTask, UnknownKeyInTaskJsonSuggestsTheClosest) {
  auto dir = valid_task("unknown_key");
  write(dir / "task.json", R"({"name": "t", "type": "classification", "lables": ["a"]})");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "unknown key \"lables\" (did you mean \"labels\"?)");
  EXPECT_MSG(message, "task.json");
}

TEST(BadTask, UnknownTypeMetricAndPrompt) {
  auto dir = valid_task("unknown_values");
  write(dir / "task.json", R"({"name": "t", "type": "clasification", "labels": ["a"]})");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "unknown type \"clasification\" (did you mean \"classification\"?)");
  write(dir / "task.json", R"({"name": "t", "type": "classification", "labels": ["negative", "positive"], "metric": "rouge"})");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "unknown metric \"rouge\" (did you mean \"rouge_l\"?)");
  write(dir / "task.json", R"({"name": "t", "type": "classification", "labels": ["negative", "positive"], "prompt": "lora"})");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "unknown prompt \"lora\"");
}

TEST(BadTask, LabelSetProblems) {
  auto dir = valid_task("label_set");
  write(dir / "task.json", R"({"name": "t", "type": "classification"})");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "a classification task needs \"labels\"");
  write(dir / "task.json", R"({"name": "t", "type": "classification", "labels": ["a", "a"]})");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "label \"a\" appears twice");
  write(dir / "task.json", R"({"name": "t", "type": "generation", "labels": ["a"]})");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "only for classification");
  write(dir / "task.json", R"({"type": "generation"})");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "missing key \"name\"");
}

TEST(BadTask, ClBenchmarkLabelOutsideLabelsJson) {
  auto root = retain::testing::temp_dir("cl_bad_label");
  auto dir = root / "CL_Benchmark" / "SC" / "mini";
  write(dir / "labels.json", R"(["negative", "positive"])");
  write(dir / "train.json", R"([{"sentence": "ok", "label": "positive"}, {"sentence": "so-so", "label": "neutral"}])");
  write(dir / "test.json", R"([{"sentence": "ok", "label": "positive"}])");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.json").string() + ": example 2 (counting from 1): label \"neutral\" is not in " "the label set [\"negative\", \"positive\"] of " + (dir / "labels.json").string());
  write(dir / "train.json", "[]");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.json").string() + ": empty split");
  write(dir / "train.json", R"([{"sentence": "ok", "label": "positive"},)");
  message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.json").string() + ":1:");
  EXPECT_MSG(message, "malformed JSON");
}

TEST(BadTask, ClBenchmarkUnderAnUnknownTypeFolder) {
  auto dir = retain::testing::temp_dir("cl_bad_type") / "SA" / "mini";
  write(dir / "labels.json", R"(["a"])");
  write(dir / "train.json", R"([{"sentence": "x", "label": "a"}])");
  write(dir / "test.json", R"([{"sentence": "x", "label": "a"}])");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, "parent folder \"SA\" is not a task type (did you mean \"SC\"?)");
}

TEST(BadTask, SentenceLabelListsWithoutLabelsJsonGetAHint) {
  auto dir = retain::testing::temp_dir("trace_wrong_keys") / "mini";
  write(dir / "train.json", R"([{"sentence": "x", "label": "a"}])");
  write(dir / "test.json", R"([{"sentence": "x", "label": "a"}])");
  auto message = error_of([&] { retain::load_task(dir); });
  EXPECT_MSG(message, (dir / "train.json").string() + ": example 1 (counting from 1): missing key \"prompt\"");
  EXPECT_MSG(message, "also needs labels.json");
}

}  // namespace
