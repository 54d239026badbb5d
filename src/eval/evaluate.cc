#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "eval/metrics.h"
#include "pipeline/pipeline.h"
#include "pipeline/rules.h"

namespace fovea::eval {
namespace {

namespace fs = std::filesystem;

Result<nlohmann::json> read_json(const fs::path& path) {
    std::ifstream in(path);
    if (!in) return not_found("eval: cannot open '" + path.string() + "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        return invalid_argument("eval: '" + path.string() + "' is not valid JSON: " + e.what());
    }
}

BoxF box_of(const nlohmann::json& j) {
    return {j[0].get<float>(), j[1].get<float>(), j[2].get<float>(), j[3].get<float>()};
}
BoxF box_of(const vision::Box& b) {
    return {b.x1, b.y1, b.x2, b.y2};
}

std::string without_spaces(std::string s) {
    s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
    return s;
}

nlohmann::json number_or_null(double v) {
    return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

// The dataset's class index for each model class (-1: the dataset has no such class).
std::vector<int> class_map(const std::vector<std::string>& labels, const std::vector<std::string>& classes) {
    std::vector<int> out;
    for (const std::string& l : labels) {
        const auto it = std::find(classes.begin(), classes.end(), l);
        out.push_back(it == classes.end() ? -1 : static_cast<int>(it - classes.begin()));
    }
    return out;
}

nlohmann::json detection_json(const std::vector<ClassMetrics>& metrics, const std::vector<std::string>& classes) {
    nlohmann::json per_class = nlohmann::json::object();
    for (size_t c = 0; c < metrics.size(); ++c) {
        const ClassMetrics& m = metrics[c];
        per_class[classes[c]] = {{"truths", m.truths},
                                 {"predictions", m.predictions},
                                 {"hits", m.hits},
                                 {"precision", m.precision},
                                 {"recall", m.recall},
                                 {"ap", number_or_null(m.ap)},
                                 {"false_positives",
                                  {{"duplicate", m.duplicates},
                                   {"mislocated", m.mislocated},
                                   {"confused", m.confused},
                                   {"background", m.background}}}};
        nlohmann::json with = nlohmann::json::object();
        for (size_t o = 0; o < m.confused_with.size(); ++o)
            if (m.confused_with[o] > 0) with[classes[o]] = m.confused_with[o];
        per_class[classes[c]]["false_positives"]["confused_with"] = with;
    }
    return {{"classes", per_class}, {"map", number_or_null(mean_ap(metrics))}};
}

}  // namespace

Result<Dataset> load_dataset(const std::string& dir) {
    FOVEA_ASSIGN(nlohmann::json manifest, read_json(fs::path(dir) / "manifest.json"));
    if (manifest.value("format", "") != "fovea-synth-manifest")
        return invalid_argument("eval: '" + dir + "/manifest.json' is not a fovea synth manifest");
    Dataset d;
    d.dir = dir;
    d.classes = manifest.at("classes").get<std::vector<std::string>>();
    for (const auto& s : manifest.at("streams")) {
        Dataset::Stream stream;
        stream.name = s.at("name").get<std::string>();
        stream.video = fs::absolute(fs::path(dir) / s.at("video").get<std::string>()).string();
        stream.lighting = s.value("lighting", "");
        FOVEA_ASSIGN(stream.truth, read_json(fs::path(dir) / s.at("truth").get<std::string>()));
        d.streams.push_back(std::move(stream));
    }
    if (d.streams.empty()) return invalid_argument("eval: '" + dir + "/manifest.json' lists no streams");
    return d;
}

nlohmann::json score(const Dataset& data, const Predictions& predictions, const ScoreOptions& options) {
    const std::vector<int> to_dataset = class_map(options.labels, data.classes);
    const int num_classes = static_cast<int>(data.classes.size());
    const int label_class =
        static_cast<int>(std::find(data.classes.begin(), data.classes.end(), "label") - data.classes.begin());

    std::vector<ImageDetections> images;
    std::map<std::string, std::vector<ImageDetections>> by_lighting;
    // The rules' own alarm setting, then each swept one: min_score x debounce. A part is alarmed once rules matched
    // on it in debounce.n of debounce.m consecutive inferred frames that show it, as the pipeline's RuleEngine
    // debounces a stream's frames.
    struct Setting {
        std::vector<pipeline::RuleConfig> rules;
        Debounce debounce;
        double min_score = 0;  // the swept value every rule's min_score was set to
    };
    Debounce own{1, 1};
    for (const auto& r : options.rules) own = {std::max(own.n, r.debounce_n), std::max(own.m, r.debounce_m)};
    std::vector<Setting> settings = {{options.rules, own}};
    const std::vector<Debounce> swept_debounce =
        options.alarm_sweep_debounce.empty() ? std::vector<Debounce>{own} : options.alarm_sweep_debounce;
    for (double t : options.alarm_sweep)
        for (const Debounce& d : swept_debounce) {
            settings.push_back({options.rules, d, t});
            for (auto& r : settings.back().rules) r.min_score = static_cast<float>(t);
        }
    struct Window {
        std::deque<bool> last;  // matched or not, in the part's latest inferred frames
        bool alarmed = false;
    };
    struct PartState {
        bool defective = false, judged = false;
        std::vector<Window> windows;  // one per setting
    };
    std::map<std::pair<size_t, int>, PartState> parts;  // (stream, part id)
    int64_t frames = 0, unattributed = 0, serial_seen = 0, serial_exact = 0;

    for (size_t s = 0; s < data.streams.size() && s < predictions.size(); ++s) {
        const nlohmann::json& truth = data.streams[s].truth;
        for (const auto& p : truth.at("parts"))
            parts[{s, p.at("id").get<int>()}].defective = p.at("defective").get<bool>();
        const auto& frames_truth = truth.at("frames");
        for (const auto& [index, dets] : predictions[s]) {
            if (index < 0 || static_cast<size_t>(index) >= frames_truth.size()) continue;
            const nlohmann::json& ft = frames_truth[static_cast<size_t>(index)];
            ++frames;
            ImageDetections img;
            for (const auto& p : ft.at("parts")) {
                const bool difficult = !p.at("fully_in_view").get<bool>();
                const auto cls_index = [&](const std::string& name) {
                    return static_cast<int>(std::find(data.classes.begin(), data.classes.end(), name) -
                                            data.classes.begin());
                };
                img.truth.push_back({box_of(p.at("box")), cls_index(p.at("class")), difficult});
                if (!p.at("label_box").is_null())
                    img.truth.push_back({box_of(p.at("label_box")), label_class, difficult});
                for (const auto& d : p.at("defects"))
                    img.truth.push_back({box_of(d.at("box")), cls_index(d.at("class")), difficult});
            }
            for (const pipeline::DetectionResult& d : dets) {
                const int c = d.det.class_id >= 0 && static_cast<size_t>(d.det.class_id) < to_dataset.size()
                                  ? to_dataset[static_cast<size_t>(d.det.class_id)]
                                  : -1;
                if (c >= 0) img.predictions.push_back({box_of(d.det.box), c, d.det.score});
            }

            // Alarms: which parts the rules' matches fall on.
            const auto alarmed_parts = [&](const std::vector<pipeline::RuleConfig>& rules, int64_t* unattributed) {
                std::set<int> alarmed;
                for (const auto& rule : rules) {
                    for (const pipeline::DetectionResult& m : pipeline::RuleEngine::match(rule, dets)) {
                        double best = 0;
                        int best_id = -1;
                        for (const auto& p : ft.at("parts")) {
                            const double v = intersection_over_first(box_of(m.det.box), box_of(p.at("box")));
                            if (v > best) best = v, best_id = p.at("id").get<int>();
                        }
                        if (best >= 0.5) {
                            alarmed.insert(best_id);
                        } else if (unattributed) {
                            ++*unattributed;
                        }
                    }
                }
                return alarmed;
            };
            std::vector<std::set<int>> matched_parts;
            for (size_t k = 0; k < settings.size(); ++k)
                matched_parts.push_back(alarmed_parts(settings[k].rules, k == 0 ? &unattributed : nullptr));
            for (const auto& p : ft.at("parts")) {
                const int id = p.at("id").get<int>();
                PartState& st = parts[{s, id}];
                st.windows.resize(settings.size());
                for (size_t k = 0; k < settings.size(); ++k) {
                    Window& w = st.windows[k];
                    w.last.push_back(matched_parts[k].contains(id));
                    if (static_cast<int>(w.last.size()) > settings[k].debounce.m) w.last.pop_front();
                    w.alarmed = w.alarmed || std::count(w.last.begin(), w.last.end(), true) >= settings[k].debounce.n;
                }
                if (!p.at("fully_in_view").get<bool>()) continue;
                st.judged = true;
                // Serial: the best-scoring detection with text lying mostly on this part.
                ++serial_seen;
                const BoxF part_box = box_of(p.at("box"));
                const pipeline::DetectionResult* reader = nullptr;
                for (const pipeline::DetectionResult& d : dets)
                    if (!d.text.empty() && intersection_over_first(box_of(d.det.box), part_box) >= 0.5 &&
                        (!reader || d.det.score > reader->det.score))
                        reader = &d;
                if (reader && without_spaces(reader->text) == p.at("serial").get<std::string>()) ++serial_exact;
            }
            by_lighting[data.streams[s].lighting].push_back(img);
            images.push_back(std::move(img));
        }
    }

    nlohmann::json report;
    report["frames_scored"] = frames;
    report["iou_threshold"] = options.iou_threshold;
    const std::vector<ClassMetrics> metrics = evaluate_detections(images, num_classes, options.iou_threshold);
    report["detection"] = detection_json(metrics, data.classes);
    nlohmann::json lighting = nlohmann::json::object();
    for (const auto& [name, imgs] : by_lighting) {
        const std::vector<ClassMetrics> m = evaluate_detections(imgs, num_classes, options.iou_threshold);
        int64_t truths = 0, hits = 0;
        for (const ClassMetrics& c : m) truths += c.truths, hits += c.hits;
        lighting[name] = {{"frames", imgs.size()},
                          {"map", number_or_null(mean_ap(m))},
                          {"recall", truths > 0 ? static_cast<double>(hits) / static_cast<double>(truths) : 0.0}};
    }
    report["detection"]["by_lighting"] = lighting;

    if (!options.rules.empty()) {
        // Alarm counts over the judged parts under setting k, from each part's window.
        const auto count = [&](size_t k) {
            int64_t judged = 0, defective = 0, alarmed = 0, true_alarms = 0;
            for (const auto& [key, st] : parts) {
                if (!st.judged) continue;
                const bool alarm = st.windows[k].alarmed;
                ++judged;
                defective += st.defective;
                alarmed += alarm;
                true_alarms += alarm && st.defective;
            }
            return nlohmann::json{
                {"parts", judged},
                {"defective", defective},
                {"alarmed", alarmed},
                {"true_alarms", true_alarms},
                {"precision", alarmed > 0 ? static_cast<double>(true_alarms) / static_cast<double>(alarmed) : 0.0},
                {"recall", defective > 0 ? static_cast<double>(true_alarms) / static_cast<double>(defective) : 0.0}};
        };
        std::vector<std::string> names;
        for (const auto& r : options.rules) names.push_back(r.name);
        report["alarms"] = count(0);
        report["alarms"]["rules"] = names;
        report["alarms"]["debounce"] = {{"n", own.n}, {"m", own.m}};
        report["alarms"]["unattributed_matches"] = unattributed;
        if (settings.size() > 1) {
            nlohmann::json sweep = nlohmann::json::array();
            for (size_t k = 1; k < settings.size(); ++k) {
                nlohmann::json row = count(k);
                row["min_score"] = settings[k].min_score;
                row["debounce"] = {{"n", settings[k].debounce.n}, {"m", settings[k].debounce.m}};
                sweep.push_back(std::move(row));
            }
            report["alarms"]["sweep"] = std::move(sweep);
        }
    }
    report["serial"] = {
        {"observations", serial_seen},
        {"exact", serial_exact},
        {"rate", serial_seen > 0 ? static_cast<double>(serial_exact) / static_cast<double>(serial_seen) : 0.0}};
    return report;
}

namespace {

// Keeps what the pipeline reports for every frame; runs on the event bus's thread.
class Collector : public pipeline::Sink {
  public:
    struct Shared {
        std::mutex mu;
        std::map<std::string, std::map<int64_t, std::vector<pipeline::DetectionResult>>> frames;  // by stream name
        int64_t events = 0;
    };
    explicit Collector(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    void on_frame(const pipeline::FrameResult& r, const std::string& stream) override {
        std::lock_guard lock(shared_->mu);
        shared_->frames[stream][r.frame.index] = r.detections;
    }
    void on_event(const pipeline::Event&) override {
        std::lock_guard lock(shared_->mu);
        ++shared_->events;
    }

  private:
    std::shared_ptr<Shared> shared_;
};

}  // namespace

Result<nlohmann::json> run_eval(const EvalOptions& o) {
    FOVEA_ASSIGN(Dataset data, load_dataset(o.data));
    FOVEA_ASSIGN(pipeline::PipelineConfig config, pipeline::load_config(o.pipeline));
    pipeline::StreamConfig tmpl = config.streams.empty() ? pipeline::StreamConfig{} : config.streams.front();
    if (!o.equalize.empty()) {
        if (o.equalize == "none")
            tmpl.equalize = vision::Equalize::kNone;
        else if (o.equalize == "global")
            tmpl.equalize = vision::Equalize::kGlobal;
        else if (o.equalize == "clahe")
            tmpl.equalize = vision::Equalize::kClahe;
        else
            return invalid_argument("eval: --equalize must be none, global or clahe, got '" + o.equalize + "'");
    }
    if (o.interval < 0) return invalid_argument("eval: --interval must be >= 1, got " + std::to_string(o.interval));
    if (o.interval > 0) tmpl.interval = o.interval;
    // Every frame of every file, as fast as it decodes: backpressure instead of drops, a stream ends with its file.
    config.streams.clear();
    for (const Dataset::Stream& s : data.streams) {
        pipeline::StreamConfig c = tmpl;
        c.source = media::SourceSpec{};
        c.source.name = s.name;
        c.source.uri = s.video;
        c.source.type = "file";
        c.source.realtime = false;
        c.source.loop = false;
        c.source.hw_decode = tmpl.source.hw_decode;
        c.max_fps = 0;
        c.stop_at_end = true;
        config.streams.push_back(std::move(c));
    }
    config.duration_s = 0;
    config.sinks = pipeline::SinkConfig{};
    config.sinks.console = false;
    const std::vector<pipeline::RuleConfig> rules = config.rules;
    const std::string equalize = tmpl.equalize == vision::Equalize::kNone     ? "none"
                                 : tmpl.equalize == vision::Equalize::kGlobal ? "global"
                                                                              : "clahe";
    pipeline::RunOptions run;
    run.device = o.device;
    run.console = false;
    FOVEA_ASSIGN(auto p, pipeline::Pipeline::create(std::move(config), run));
    auto shared = std::make_shared<Collector::Shared>();
    p->add_sink(std::make_unique<Collector>(shared));
    std::vector<std::string> labels = p->config().models.at(p->config().primary).labels;
    const int interval = tmpl.interval;
    p->run(0);
    const nlohmann::json summary = p->summary();

    const int64_t dropped = summary["totals"]["dropped"].get<int64_t>();
    const int64_t sink_dropped = summary["totals"]["sink_dropped_frames"].get<int64_t>();
    if (dropped != 0 || sink_dropped != 0)
        return internal_error("eval: " + o.pipeline + ": the pipeline dropped " + std::to_string(dropped) +
                              " frames and the sinks " + std::to_string(sink_dropped) +
                              "; the scores would not cover the footage");
    if (summary.value("inference_errors", 0) > 0)
        return internal_error("eval: " + o.pipeline +
                              ": inference failed: " + summary.value("last_inference_error", ""));

    Predictions predictions(data.streams.size());
    int64_t expected = 0, missing = 0;
    {
        std::lock_guard lock(shared->mu);
        for (size_t s = 0; s < data.streams.size(); ++s) {
            predictions[s] = std::move(shared->frames[data.streams[s].name]);
            const int64_t n = static_cast<int64_t>(data.streams[s].truth.at("frames").size());
            for (int64_t i = 0; i < n; i += interval) {
                ++expected;
                missing += !predictions[s].contains(i);
            }
        }
    }
    if (missing > 0)
        return internal_error("eval: " + o.pipeline + ": " + std::to_string(missing) + " of " +
                              std::to_string(expected) + " frames to infer have no result");

    ScoreOptions so;
    so.labels = labels;
    so.rules = rules;
    so.iou_threshold = o.iou_threshold;
    so.alarm_sweep = o.alarm_sweep;
    so.alarm_sweep_debounce = o.alarm_sweep_debounce;
    nlohmann::json report = score(data, predictions, so);
    report["pipeline"] = o.pipeline;
    report["data"] = o.data;
    report["streams"] = data.streams.size();
    report["equalize"] = equalize;
    report["interval"] = interval;
    report["model"] = summary["model"];
    report["events"] = shared->events;
    report["latency"] = {{"stages_ms", summary["stages_ms"]},
                         {"batch_inference_ms", summary["batch_inference_ms"]},
                         {"inferred_fps", summary["totals"]["inferred_fps"]},
                         {"duration_s", summary["duration_s"]},
                         {"batch_sizes", summary["batch_sizes"]}};
    return report;
}

namespace {

// " (scratch)": the class most confusions of a class fall on, when it holds most of them.
std::string confused_with(const nlohmann::json& with) {
    int64_t total = 0, most = 0;
    std::string name;
    for (const auto& [other, n] : with.items()) {
        total += n.get<int64_t>();
        if (n.get<int64_t>() > most) most = n.get<int64_t>(), name = other;
    }
    return total > 0 && 2 * most > total ? " (" + name + ")" : "";
}

}  // namespace

std::string to_markdown(const nlohmann::json& r) {
    auto num = [](const nlohmann::json& v, int digits = 3) -> std::string {
        if (v.is_null()) return "n/a";
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.*f", digits, v.get<double>());
        return buf;
    };
    std::string md;
    md += "## fovea eval\n\n";
    if (r.contains("pipeline"))
        md += "Pipeline `" + r["pipeline"].get<std::string>() + "` on `" + r["data"].get<std::string>() + "` (" +
              std::to_string(r["streams"].get<size_t>()) + " streams, equalize " + r["equalize"].get<std::string>() +
              ", model " + r["model"]["backend"].get<std::string>() + " " + r["model"]["precision"].get<std::string>() +
              "), " + std::to_string(r["frames_scored"].get<int64_t>()) + " frames scored.\n\n";
    md += "### Detection (IoU >= " + num(r["iou_threshold"], 2) + ")\n\n";
    md +=
        "| class | truths | predictions | hits | precision | recall | AP | false: duplicate / mislocated / confused / "
        "background |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [name, c] : r["detection"]["classes"].items()) {
        const auto& f = c["false_positives"];
        md += "| " + name + " | " + std::to_string(c["truths"].get<int64_t>()) + " | " +
              std::to_string(c["predictions"].get<int64_t>()) + " | " + std::to_string(c["hits"].get<int64_t>()) +
              " | " + num(c["precision"]) + " | " + num(c["recall"]) + " | " + num(c["ap"]) + " | " +
              std::to_string(f["duplicate"].get<int64_t>()) + " / " + std::to_string(f["mislocated"].get<int64_t>()) +
              " / " + std::to_string(f["confused"].get<int64_t>()) + confused_with(f["confused_with"]) + " / " +
              std::to_string(f["background"].get<int64_t>()) + " |\n";
    }
    md += "| **mAP@0.5** | | | | | | **" + num(r["detection"]["map"]) + "** | |\n\n";
    md +=
        "(False positives by cause: a second box on a truth already found; a box on a truth of its class at IoU "
        "0.1-" +
        num(r["iou_threshold"], 2) +
        "; on a truth of another class (the class it overlaps most, when "
        "most of them share one); on nothing.)\n\n";
    md += "| lighting | frames | mAP@0.5 | recall (all classes) |\n|---|---:|---:|---:|\n";
    for (const auto& [name, l] : r["detection"]["by_lighting"].items())
        md += "| " + name + " | " + std::to_string(l["frames"].get<int64_t>()) + " | " + num(l["map"]) + " | " +
              num(l["recall"]) + " |\n";
    if (r.contains("alarms")) {
        const auto& a = r["alarms"];
        md +=
            "\n### Alarms per part\n\n| parts judged | defective | alarmed | true alarms | precision | recall | "
            "matches on no part |\n|---:|---:|---:|---:|---:|---:|---:|\n";
        md += "| " + std::to_string(a["parts"].get<int64_t>()) + " | " + std::to_string(a["defective"].get<int64_t>()) +
              " | " + std::to_string(a["alarmed"].get<int64_t>()) + " | " +
              std::to_string(a["true_alarms"].get<int64_t>()) + " | " + num(a["precision"]) + " | " + num(a["recall"]) +
              " | " + std::to_string(a["unattributed_matches"].get<int64_t>()) + " |\n";
        if (a.contains("sweep")) {
            md +=
                "\nWith every rule's min_score and debounce set to:\n\n| min_score | debounce n/m | alarmed | true "
                "alarms | "
                "precision | recall |\n|---:|---:|---:|---:|---:|---:|\n";
            for (const auto& row : a["sweep"])
                md += "| " + num(row["min_score"], 2) + " | " + std::to_string(row["debounce"]["n"].get<int>()) + "/" +
                      std::to_string(row["debounce"]["m"].get<int>()) + " | " +
                      std::to_string(row["alarmed"].get<int64_t>()) + " | " +
                      std::to_string(row["true_alarms"].get<int64_t>()) + " | " + num(row["precision"]) + " | " +
                      num(row["recall"]) + " |\n";
        }
    }
    const auto& s = r["serial"];
    md +=
        "\n### Serial numbers (parts fully in view, per frame)\n\n| observations | exact | rate |\n|---:|---:|---:|\n";
    md += "| " + std::to_string(s["observations"].get<int64_t>()) + " | " + std::to_string(s["exact"].get<int64_t>()) +
          " | " + num(s["rate"]) + " |\n";
    if (r.contains("latency")) {
        const auto& l = r["latency"];
        md +=
            "\n### Latency (files read as fast as they decode: queue waits include backpressure)\n\n"
            "| stage | p50 ms | p99 ms |\n|---|---:|---:|\n";
        for (const auto& [name, h] : l["stages_ms"].items())
            md += "| " + name + " | " + num(h["p50"], 2) + " | " + num(h["p99"], 2) + " |\n";
        md += "| batch inference | " + num(l["batch_inference_ms"]["p50"], 2) + " | " +
              num(l["batch_inference_ms"]["p99"], 2) + " |\n\nInferred " + num(l["inferred_fps"], 1) + " frames/s.\n";
    }
    return md;
}

}  // namespace fovea::eval
