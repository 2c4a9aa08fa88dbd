// apps/retain/commands.h — the subcommands of the `retain` program, one file each.
//
// Each register_<name> adds its subcommand, options and callback to the app. main.cpp calls them
// explicitly, in the order they appear in --help. Callbacks throw on failure; only main() turns an
// exception into a message and an exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace retain::cli {

void register_tokenize(CLI::App& app);  // tokenize.cpp
void register_forward(CLI::App& app);   // forward.cpp
void register_generate(CLI::App& app);  // generate.cpp
void register_inspect(CLI::App& app);   // inspect.cpp
void register_init(CLI::App& app);      // init.cpp
void register_export(CLI::App& app);    // export.cpp
void register_run(CLI::App& app);       // run.cpp
void register_data(CLI::App& app);      // data.cpp
void register_report(CLI::App& app);    // report.cpp
void register_tokenizer(CLI::App& app); // tokenizer.cpp
void register_pretrain(CLI::App& app);  // pretrain.cpp
void register_plan(CLI::App& app);      // plan.cpp
void register_serve(CLI::App& app);     // serve.cpp
void register_launch(CLI::App& app);    // launch.cpp

}  // namespace retain::cli
