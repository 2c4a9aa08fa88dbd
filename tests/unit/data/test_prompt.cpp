// Prompt formatting: the exact strings of methods.md §0 (O-LoRA layout) and the plain pass-through.
#include "common/test_support.h"
#include "retain/data/prompt.h"

#include <gtest/gtest.h>

namespace {

std::filesystem::path data_fixtures() { return retain::testing::fixtures() / "data"; }

TEST(FormatPrompt, OLoRAClassificationExactString) {
  auto task = retain::load_task(data_fixtures() / "CL_Benchmark" / "TC" / "dbpedia");
  // Note the space between the last option and "\n", and the sentence's own trailing "\n".
  EXPECT_EQ(retain::format_prompt(task, task.train[0]),
            "Task:TC\nDataset:dbpedia\nWhat is the topic of the following paragraph? Choose one from the option.\n"
            "Option: Company, Artist, Village \nTitle: Acme Corp\nText: Acme Corp is a maker of anvils.\n\nAnswer:");
  EXPECT_EQ(retain::format_target(task, task.train[0]), " Company");
}

TEST(FormatPrompt, OLoRANliExactString) {
  auto task = retain::load_task(data_fixtures() / "CL_Benchmark" / "NLI" / "CB");
  EXPECT_EQ(retain::format_prompt(task, task.train[1]),
            "Task:NLI\nDataset:CB\nWhat is the logical relationship between the \"sentence 1\" and the \"sentence 2\"? "
            "Choose one from the option.\nOption: entailment, contradiction, neutral \n"
            "sentence 1: She left.\nsentence 2: She stayed.\nAnswer:");
  EXPECT_EQ(retain::format_target(task, task.train[1]), " contradiction");
}

TEST(FormatPrompt, CopaHasNoInstructionAndNoOptionLine) {
  auto task = retain::load_task(data_fixtures() / "CL_Benchmark" / "COPA" / "COPA");
  EXPECT_EQ(retain::format_prompt(task, task.train[0]),
            "Task:COPA\nDataset:COPA\nWhich sentence is the effect of \"The man turned on the faucet.\"? Choose one "
            "between A and B.\nA: The toilet filled with water.\nB: Water flowed from the spout.\nAnswer:");
  EXPECT_EQ(retain::format_target(task, task.train[0]), " B");
}

TEST(FormatPrompt, RetainClassificationFolderUsesTheOLoRALayout) {
  auto task = retain::load_task(data_fixtures() / "sentiment");
  EXPECT_EQ(retain::format_prompt(task, task.train[0]),
            "Task:tiny_sentiment\nDataset:tiny_sentiment\nIs the review positive or negative?\n"
            "Option: negative, positive \nA wonderful film.\nAnswer:");
  EXPECT_EQ(retain::format_target(task, task.train[0]), " positive");
}

TEST(FormatPrompt, PlainTasksPassThroughUnchanged) {
  auto trace = retain::load_task(data_fixtures() / "TRACE" / "C-STANCE");
  EXPECT_EQ(retain::format_prompt(trace, trace.train[1]),
            "Text: I dislike rain. Stance towards rain? A. favor B. against C. none\nAnswer:");
  EXPECT_EQ(retain::format_target(trace, trace.train[1]), "B");
  auto echo = retain::load_task(data_fixtures() / "echo");
  EXPECT_EQ(retain::format_prompt(echo, echo.train[0]), "Repeat: red apple\n");
  EXPECT_EQ(retain::format_target(echo, echo.train[0]), "red apple");
  auto code = retain::load_task(data_fixtures() / "TRACE" / "Py150");
  EXPECT_EQ(retain::format_target(code, code.train[0]), " return a + b");  // leading space kept, nothing added
  echo.instruction = "Echo the phrase.\n";
  EXPECT_EQ(retain::format_prompt(echo, echo.train[0]), "Echo the phrase.\nRepeat: red apple\n");
}

}  // namespace
