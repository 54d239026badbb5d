// `fovea eval PIPELINE.yaml --data DIR`: a pipeline scored against `fovea synth` ground truth (src/eval).
#include <cstdio>
#include <fstream>

#include "commands.h"
#include "eval/evaluate.h"

namespace fovea::cli {

Command add_eval(CLI::App& app) {
    auto* sub =
        app.add_subcommand("eval", "Score a pipeline on fovea synth footage: detection AP, alarms, serials, latency");
    struct Options {
        eval::EvalOptions eval;
        std::string json, markdown;
        std::vector<std::string> debounce;
    };
    auto o = std::make_shared<Options>();
    sub->add_option("pipeline", o->eval.pipeline,
                    "Pipeline YAML file; its first source is the template of every stream")
        ->required();
    sub->add_option("--data", o->eval.data, "Folder written by fovea synth")->required();
    sub->add_option("--device", o->eval.device, "Run every model on this backend: cpu, cuda or ref");
    sub->add_option("--equalize", o->eval.equalize,
                    "Override the streams' histogram equalization: none, global, clahe");
    sub->add_option("--interval", o->eval.interval, "Infer every N-th frame (default: the pipeline's first source's)");
    sub->add_option("--iou", o->eval.iou_threshold, "IoU a detection needs to hit a truth")->capture_default_str();
    sub->add_option("--alarm-sweep", o->eval.alarm_sweep,
                    "Also score alarms with every rule's min_score set to each of these (e.g. 0.4,0.5,0.6)")
        ->delimiter(',');
    sub->add_option("--alarm-sweep-debounce", o->debounce,
                    "With --alarm-sweep, score each min_score with each of these debounces, n/m: alarm once a rule "
                    "matched in n of m consecutive frames (e.g. 1/1,2/3,3/5; default: the rules' own)")
        ->delimiter(',');
    sub->add_option("--json", o->json, "Write the report as JSON to this file");
    sub->add_option("--markdown", o->markdown, "Write the report as markdown to this file (stdout always gets it)");
    return {
        sub, [o]() -> Status {
            o->eval.alarm_sweep_debounce.clear();
            for (const std::string& text : o->debounce) {
                eval::Debounce d;
                char slash = 0, rest = 0;
                if (std::sscanf(text.c_str(), "%d%c%d%c", &d.n, &slash, &d.m, &rest) != 3 || slash != '/' || d.n < 1 ||
                    d.n > d.m)
                    return invalid_argument("--alarm-sweep-debounce: '" + text +
                                            "' is not n/m with 1 <= n <= m (e.g. 2/3)");
                o->eval.alarm_sweep_debounce.push_back(d);
            }
            FOVEA_ASSIGN(nlohmann::json report, eval::run_eval(o->eval));
            const std::string md = eval::to_markdown(report);
            std::fputs(md.c_str(), stdout);
            for (const auto& [path, text] : {std::pair{o->json, report.dump(2) + "\n"}, std::pair{o->markdown, md}}) {
                if (path.empty()) continue;
                std::ofstream out(path);
                out << text;
                if (!out) return io_error("eval: cannot write '" + path + "'");
            }
            return Status::ok();
        }};
}

}  // namespace fovea::cli
