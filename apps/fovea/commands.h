// The `fovea` subcommands. Each registers its options on the app and returns the Status of its run.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <string>

#include "fovea/status.h"
#include "fovea/tensor.h"

namespace fovea::cli {

struct Command {
    CLI::App* app;                // the subcommand, owned by the parent app
    std::function<Status()> run;  // runs it with the parsed options
};

Command add_inspect(CLI::App& app);
Command add_infer(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_run(CLI::App& app);
Command add_validate(CLI::App& app);
Command add_synth(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_ocr(CLI::App& app);

// Parses "NAME=1,3,224,224" options into shapes.
Result<std::map<std::string, Shape>> parse_shapes(const std::vector<std::string>& specs);
// "fovea 0.1.0 Release g++ 12.2" and the CPU's model name, for rows of reports.
std::string build_description();
std::string cpu_description();
std::string gpu_description();

}  // namespace fovea::cli
