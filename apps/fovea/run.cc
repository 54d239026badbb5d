// `fovea run PIPELINE.yaml`: the main job. `fovea validate PIPELINE.yaml`: check a pipeline file without running it.
#include <csignal>
#include <cstdio>
#include <fstream>

#include "commands.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace fovea::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) {
    g_interrupted = true;
}

}  // namespace

Command add_run(CLI::App& app) {
    auto* sub = app.add_subcommand("run", "Run a multi-stream pipeline described by a YAML file");
    struct Options {
        std::string file, device, stats_json;
        double duration = 0, warmup = 0;
        bool no_console = false;
    };
    auto o = std::make_shared<Options>();
    sub->add_option("pipeline", o->file, "Pipeline YAML file (docs/pipeline.md)")->required();
    sub->add_option("--device", o->device, "Run every model on this backend: cpu, cuda or ref (overrides the file)");
    sub->add_option("--duration", o->duration, "Stop after this many seconds (default: the file's, else until Ctrl-C)");
    sub->add_option("--warmup", o->warmup,
                    "Run this many seconds first, then start the statistics afresh (decoder start-up, first batches)");
    sub->add_option("--stats-json", o->stats_json, "Write the run's statistics to this JSON file at exit");
    sub->add_flag("--no-console", o->no_console, "No live view; only the summary at exit");
    return {sub, [o]() -> Status {
                FOVEA_ASSIGN(pipeline::PipelineConfig config, pipeline::load_config(o->file));
                pipeline::RunOptions options;
                options.device = o->device;
                options.console = !o->no_console;
                FOVEA_ASSIGN(auto p, pipeline::Pipeline::create(std::move(config), options));
                std::signal(SIGINT, on_signal);
                std::signal(SIGTERM, on_signal);
                p->run(o->duration, &g_interrupted, o->warmup);
                std::fputs(p->summary_text().c_str(), stdout);
                if (!o->stats_json.empty()) {
                    std::ofstream out(o->stats_json);
                    out << p->summary().dump(2) << '\n';
                    if (!out) return io_error(o->stats_json + ": cannot write the statistics");
                }
                return Status::ok();
            }};
}

Command add_validate(CLI::App& app) {
    auto* sub =
        app.add_subcommand("validate", "Check a pipeline YAML file (keys, values, model files) without running");
    auto file = std::make_shared<std::string>();
    sub->add_option("pipeline", *file, "Pipeline YAML file")->required();
    return {sub, [file]() -> Status {
                FOVEA_ASSIGN(pipeline::PipelineConfig c, pipeline::load_config(*file));
                for (const auto& [name, model] : c.models)
                    if (!std::ifstream(model.path))
                        return not_found(*file + ": model '" + name + "': cannot open '" + model.path + "'");
                std::printf("%s: ok (%zu streams, %zu models, %zu rules, primary model '%s')\n", file->c_str(),
                            c.streams.size(), c.models.size(), c.rules.size(), c.primary.c_str());
                return Status::ok();
            }};
}

}  // namespace fovea::cli
