#include "pipeline/config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace fovea::pipeline {
namespace {

// Config errors travel as this exception inside the parser only; load_config turns them into a Status.
struct ConfigError {
    YAML::Mark mark;
    std::string message;
};

[[noreturn]] void fail(const YAML::Node& node, std::string message) {
    throw ConfigError{node.Mark(), std::move(message)};
}

// A YAML mapping whose keys are checked against the ones the caller reads: what is left over is a typo.
class Map {
  public:
    Map(const YAML::Node& node, const std::string& what) : node_(node) {
        if (!node.IsMap()) fail(node, what + " must be a mapping");
    }
    ~Map() = default;
    Map(const Map&) = delete;
    Map& operator=(const Map&) = delete;

    YAML::Node get(const std::string& key) {
        seen_.insert(key);
        return node_[key];
    }
    bool has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }
    const YAML::Node& node() const { return node_; }

    template <typename T>
    void read(const std::string& key, T& out) {
        const YAML::Node v = get(key);
        if (!v.IsDefined() || v.IsNull()) return;
        out = scalar<T>(v, key);
    }
    template <typename T>
    void read(const std::string& key, T& out, T lo, T hi) {
        const YAML::Node v = get(key);
        if (!v.IsDefined() || v.IsNull()) return;
        const T value = scalar<T>(v, key);
        if (value < lo || value > hi) {
            std::ostringstream m;
            m << "'" << key << "' must be between " << lo << " and " << hi << " (got " << value << ")";
            fail(v, m.str());
        }
        out = value;
    }
    // Rejects keys nobody read: they are misspellings or options this version does not have.
    void check_unknown() const {
        for (const auto& kv : node_) {
            const std::string key = kv.first.as<std::string>();
            if (!seen_.contains(key)) fail(kv.first, "unknown key '" + key + "'");
        }
    }

    template <typename T>
    static T scalar(const YAML::Node& v, const std::string& key) {
        if (!v.IsScalar()) fail(v, "'" + key + "' must be a single value");
        try {
            return v.as<T>();
        } catch (const YAML::Exception&) {
            fail(v, "'" + key + "' has a bad value '" + v.Scalar() + "'");
        }
    }

  private:
    YAML::Node node_;
    std::set<std::string> seen_;
};

template <typename E>
E choice(const YAML::Node& v, const std::string& key, const std::vector<std::pair<std::string, E>>& options) {
    const std::string s = Map::scalar<std::string>(v, key);
    std::string names;
    for (const auto& [name, value] : options) {
        if (name == s) return value;
        names += (names.empty() ? "" : ", ") + name;
    }
    fail(v, "'" + key + "' must be one of " + names + " (got '" + s + "')");
}

template <typename E>
void read_choice(Map& m, const std::string& key, E& out, const std::vector<std::pair<std::string, E>>& options) {
    const YAML::Node v = m.get(key);
    if (v.IsDefined() && !v.IsNull()) out = choice(v, key, options);
}

std::vector<std::string> string_list(const YAML::Node& v, const std::string& key) {
    if (v.IsScalar()) return {v.Scalar()};
    if (!v.IsSequence()) fail(v, "'" + key + "' must be a list");
    std::vector<std::string> out;
    for (const auto& item : v) out.push_back(Map::scalar<std::string>(item, key));
    return out;
}

std::array<float, 3> triple(const YAML::Node& v, const std::string& key) {
    if (v.IsScalar()) {
        const float x = Map::scalar<float>(v, key);
        return {x, x, x};
    }
    if (!v.IsSequence() || v.size() != 3) fail(v, "'" + key + "' must be a number or a list of 3");
    return {Map::scalar<float>(v[0], key), Map::scalar<float>(v[1], key), Map::scalar<float>(v[2], key)};
}

const std::vector<std::pair<std::string, std::string>> kBackends = {{"cpu", "cpu"}, {"cuda", "cuda"}, {"ref", "ref"}};

class Parser {
  public:
    Parser(std::string base_dir) : base_dir_(std::move(base_dir)) {}

    PipelineConfig parse(const YAML::Node& root) {
        PipelineConfig c;
        Map top(root, "the pipeline file");
        if (top.has("pipeline")) {
            Map p(top.get("pipeline"), "'pipeline'");
            read_choice<std::string>(p, "device", c.device, kBackends);
            p.read("duration", c.duration_s, 0.0, 1e9);
            p.read("queue_depth", c.queue_depth, 1, 64);
            p.check_unknown();
        }
        const YAML::Node models = top.get("models");
        if (!models.IsDefined() || !models.IsMap() || models.size() == 0)
            fail(models.IsDefined() ? models : root, "'models' must map model names to their settings");
        for (const auto& kv : models) {
            ModelConfig m = parse_model(kv.first.as<std::string>(), kv.second, c.device);
            if (c.primary.empty()) c.primary = m.name;
            c.models[m.name] = std::move(m);
        }
        top.read("primary", c.primary);
        if (!c.models.contains(c.primary)) fail(top.node()["primary"], "no model named '" + c.primary + "'");
        const ModelConfig& primary = c.models.at(c.primary);

        const YAML::Node sources = top.get("sources");
        if (!sources.IsDefined() || !sources.IsSequence() || sources.size() == 0)
            fail(sources.IsDefined() ? sources : root, "'sources' must be a non-empty list of streams");
        std::set<std::string> names;
        for (const auto& s : sources) {
            for (StreamConfig& stream : parse_streams(s)) {
                if (!names.insert(stream.source.name).second)
                    fail(s, "two streams are named '" + stream.source.name + "'");
                c.streams.push_back(std::move(stream));
            }
        }
        if (top.has("cascade")) {
            const YAML::Node list = top.get("cascade");
            if (!list.IsSequence()) fail(list, "'cascade' must be a list");
            for (const auto& item : list) c.cascades.push_back(parse_cascade(item, c, primary));
        }
        if (top.has("rules")) {
            const YAML::Node list = top.get("rules");
            if (!list.IsSequence()) fail(list, "'rules' must be a list");
            for (const auto& item : list) c.rules.push_back(parse_rule(item, primary, names));
        }
        if (top.has("sinks")) c.sinks = parse_sinks(top.get("sinks"));
        top.check_unknown();
        return c;
    }

  private:
    // "${NAME}" becomes the environment variable's value (an error when unset); relative paths are taken from the
    // config file's folder.
    std::string resolve(const std::string& raw, const YAML::Node& where) const {
        std::string path = raw;
        for (size_t at; (at = path.find("${")) != std::string::npos;) {
            const size_t end = path.find('}', at);
            if (end == std::string::npos) fail(where, "unclosed '${' in '" + raw + "'");
            const std::string name = path.substr(at + 2, end - at - 2);
            const char* value = std::getenv(name.c_str());
            if (!value) fail(where, "'" + raw + "' uses the environment variable " + name + ", which is not set");
            path.replace(at, end - at + 1, value);
        }
        if (path.empty() || std::filesystem::path(path).is_absolute() || path.find("://") != std::string::npos)
            return path;
        return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
    }

    static int class_id(const YAML::Node& v, const ModelConfig& model) {
        const std::string s = Map::scalar<std::string>(v, "class");
        for (size_t i = 0; i < model.labels.size(); ++i)
            if (model.labels[i] == s) return static_cast<int>(i);
        char* end = nullptr;
        const long id = std::strtol(s.c_str(), &end, 10);
        if (!s.empty() && *end == '\0' && id >= 0) return static_cast<int>(id);
        fail(v, "model '" + model.name + "' has no class '" + s + "'");
    }
    static std::vector<int> class_ids(const YAML::Node& v, const ModelConfig& model) {
        std::vector<int> out;
        if (v.IsScalar()) return {class_id(v, model)};
        if (!v.IsSequence()) fail(v, "'classes' must be a list of class names or ids");
        for (const auto& item : v) out.push_back(class_id(item, model));
        return out;
    }

    ModelConfig parse_model(const std::string& name, const YAML::Node& node, const std::string& device) {
        ModelConfig m;
        m.name = name;
        m.backend = device;
        Map map(node, "model '" + name + "'");
        map.read("path", m.path);
        if (m.path.empty()) fail(node, "model '" + name + "' needs a 'path'");
        m.path = resolve(m.path, node["path"]);
        read_choice<std::string>(map, "backend", m.backend, kBackends);
        read_choice<std::string>(map, "precision", m.precision, {{"fp32", "fp32"}, {"bf16", "bf16"}, {"fp16", "fp16"}});
        map.read("threads", m.threads, 0, 1024);
        map.read("max_batch", m.max_batch, 1, 1024);
        map.read("max_delay_us", m.max_delay_us, 0, 10'000'000);
        read_choice<OutputKind>(map, "type", m.output,
                                {{"yolov5", OutputKind::kYoloV5},
                                 {"yolov8", OutputKind::kYoloV8},
                                 {"classify", OutputKind::kClassify},
                                 {"ctc", OutputKind::kCtc},
                                 {"db", OutputKind::kDbText}});
        if (map.has("labels")) m.labels = string_list(map.get("labels"), "labels");
        if (map.has("labels_file")) {
            const YAML::Node v = map.get("labels_file");
            const std::string path = resolve(Map::scalar<std::string>(v, "labels_file"), v);
            std::ifstream in(path);
            if (!in) fail(v, "cannot read labels_file '" + path + "'");
            for (std::string line; std::getline(in, line);)
                if (!line.empty()) m.labels.push_back(line);
        }
        if (map.has("input")) {
            const YAML::Node input = map.get("input");
            m.input_size_set = input.IsMap() && (input["width"].IsDefined() || input["height"].IsDefined());
            parse_input(input, m.input);
        }
        map.read("conf_threshold", m.detect.conf_threshold, 0.0f, 1.0f);
        map.read("iou_threshold", m.detect.iou_threshold, 0.0f, 1.0f);
        map.read("max_detections", m.detect.max_detections, 1, 100000);
        map.read("class_agnostic_nms", m.detect.class_agnostic);
        if (map.has("class_thresholds")) {
            const YAML::Node t = map.get("class_thresholds");
            if (!t.IsMap()) fail(t, "'class_thresholds' must map class names or ids to thresholds");
            for (const auto& kv : t) {
                const int id = class_id(kv.first, m);
                const float value = Map::scalar<float>(kv.second, "class_thresholds");
                if (value < 0 || value > 1) fail(kv.second, "class thresholds must be between 0 and 1");
                if (m.detect.class_thresholds.size() <= static_cast<size_t>(id))
                    m.detect.class_thresholds.resize(static_cast<size_t>(id) + 1, -1.0f);
                m.detect.class_thresholds[static_cast<size_t>(id)] = value;
            }
            // Classes not named keep the model's conf_threshold.
            for (float& v : m.detect.class_thresholds)
                if (v < 0) v = m.detect.conf_threshold;
        }
        map.read("top_k", m.top_k, 1, 1000);
        map.read("softmax", m.softmax);
        if (map.has("charset")) {
            const YAML::Node v = map.get("charset");
            m.charset_path = resolve(Map::scalar<std::string>(v, "charset"), v);
        }
        map.read("charset_use_space", m.charset_use_space);
        map.read("db_threshold", m.db_threshold, 0.0f, 1.0f);
        map.read("db_box_threshold", m.db_box_threshold, 0.0f, 1.0f);
        map.read("db_unclip_ratio", m.db_unclip_ratio, 0.0f, 10.0f);
        if (m.output == OutputKind::kDbText && m.labels.empty()) m.labels = {"text"};
        if (m.output == OutputKind::kCtc && m.charset_path.empty())
            fail(node, "model '" + name + "' of type ctc needs a 'charset' file");
        map.check_unknown();
        return m;
    }

    static void parse_input(const YAML::Node& node, vision::PreprocessSpec& spec) {
        Map map(node, "'input'");
        map.read("width", spec.width, 1, 16384);
        map.read("height", spec.height, 1, 16384);
        read_choice<vision::ColorOrder>(
            map, "color",
            spec.color, {{"rgb", vision::ColorOrder::kRGB}, {"bgr", vision::ColorOrder::kBGR}, {"gray", vision::ColorOrder::kGray}});
        read_choice<vision::ResizeMode>(map, "resize", spec.resize,
                                        {{"letterbox", vision::ResizeMode::kLetterbox},
                                         {"stretch", vision::ResizeMode::kStretch}});
        int pad = spec.pad_value;
        map.read("pad_value", pad, 0, 255);
        spec.pad_value = static_cast<uint8_t>(pad);
        map.read("scale", spec.scale);
        if (map.has("mean")) spec.mean = triple(map.get("mean"), "mean");
        if (map.has("std")) spec.std = triple(map.get("std"), "std");
        for (float s : spec.std)
            if (s == 0) fail(node["std"], "'std' must not be 0");
        read_choice<vision::Layout>(map, "layout", spec.layout,
                                    {{"nchw", vision::Layout::kNCHW}, {"nhwc", vision::Layout::kNHWC}});
        read_choice<DType>(map, "dtype", spec.dtype, {{"fp32", DType::kFloat32}, {"fp16", DType::kFloat16}});
        map.check_unknown();
    }

    std::vector<StreamConfig> parse_streams(const YAML::Node& node) {
        StreamConfig s;
        Map map(node, "a source");
        media::SourceSpec& src = s.source;
        map.read("name", src.name);
        map.read("uri", src.uri);
        map.read("type", src.type);
        map.read("loop", src.loop);
        map.read("realtime", src.realtime);
        map.read("fps", src.fps, 0.0, 1000.0);
        map.read("width", src.width, 0, 16384);
        map.read("height", src.height, 0, 16384);
        map.read("transport", src.transport);
        map.read("timeout_ms", src.timeout_ms, 1, 3'600'000);
        map.read("hw_decode", src.hw_decode);
        map.read("seed", src.seed);
        map.read("max_fps", s.max_fps, 0.0, 1000.0);
        map.read("interval", s.interval, 1, 100000);
        read_choice<vision::Equalize>(map, "equalize", s.equalize,
                                      {{"none", vision::Equalize::kNone},
                                       {"global", vision::Equalize::kGlobal},
                                       {"clahe", vision::Equalize::kClahe}});
        map.read("clahe_clip", s.clahe_clip, 0.1, 1000.0);
        map.read("clahe_tile", s.clahe_tile, 1, 64);
        if (map.has("rois")) {
            const YAML::Node rois = map.get("rois");
            if (!rois.IsSequence()) fail(rois, "'rois' must be a list of [x, y, width, height]");
            for (const auto& r : rois) {
                if (!r.IsSequence() || r.size() != 4) fail(r, "a ROI must be [x, y, width, height]");
                vision::Rect rect{Map::scalar<int>(r[0], "rois"), Map::scalar<int>(r[1], "rois"),
                                  Map::scalar<int>(r[2], "rois"), Map::scalar<int>(r[3], "rois")};
                if (rect.x < 0 || rect.y < 0 || rect.width < 0 || rect.height < 0)
                    fail(r, "ROI values must not be negative");
                s.rois.push_back(rect);
            }
        }
        if (map.has("reconnect")) {
            Map r(map.get("reconnect"), "'reconnect'");
            r.read("initial_ms", s.reconnect.initial_ms, 1, 3'600'000);
            r.read("max_ms", s.reconnect.max_ms, 1, 3'600'000);
            r.read("multiplier", s.reconnect.multiplier, 1.0, 100.0);
            r.check_unknown();
        }
        if (map.has("at_end")) {
            s.stop_at_end = choice<bool>(map.get("at_end"), "at_end", {{"reconnect", false}, {"stop", true}});
        }
        int count = 1;
        map.read("count", count, 1, 1024);
        map.check_unknown();
        if (src.uri.empty()) fail(node, "a source needs a 'uri'");
        if (src.name.empty()) src.name = count > 1 ? "cam{i}" : src.uri;
        if (src.uri != "synthetic") src.uri = resolve(src.uri, node["uri"]);
        auto validated = media::make_source(src);
        if (!validated.is_ok()) fail(node, validated.status().message());

        // `count: N` stamps out N streams; "{i}" in the name and uri becomes 0..N-1 and the seed grows by i.
        std::vector<StreamConfig> out;
        for (int i = 0; i < count; ++i) {
            StreamConfig copy = s;
            auto subst = [&](std::string& text) {
                for (size_t at; (at = text.find("{i}")) != std::string::npos;) text.replace(at, 3, std::to_string(i));
            };
            subst(copy.source.name);
            subst(copy.source.uri);
            copy.source.seed += static_cast<uint64_t>(i);
            out.push_back(std::move(copy));
        }
        if (count > 1 && out[0].source.name == out[1].source.name)
            fail(node["name"], "with 'count' the name needs '{i}' to tell the streams apart");
        return out;
    }

    CascadeConfig parse_cascade(const YAML::Node& node, const PipelineConfig& c, const ModelConfig& primary) {
        CascadeConfig k;
        Map map(node, "a cascade");
        map.read("model", k.model);
        if (!c.models.contains(k.model)) fail(node, "cascade names no model, or one that 'models' lacks: '" + k.model + "'");
        if (k.model == c.primary) fail(node, "the primary model cannot be its own cascade");
        const OutputKind kind = c.models.at(k.model).output;
        if (kind != OutputKind::kClassify && kind != OutputKind::kCtc)
            fail(node, "a cascade model must be of type classify or ctc");
        if (map.has("classes")) k.classes = class_ids(map.get("classes"), primary);
        map.read("min_score", k.min_score, 0.0f, 1.0f);
        map.read("padding", k.padding, 0.0f, 2.0f);
        map.read("max_crops_per_frame", k.max_crops_per_frame, 1, 1024);
        map.check_unknown();
        return k;
    }

    RuleConfig parse_rule(const YAML::Node& node, const ModelConfig& primary, const std::set<std::string>& streams) {
        RuleConfig r;
        Map map(node, "a rule");
        map.read("name", r.name);
        if (r.name.empty()) fail(node, "a rule needs a 'name'");
        if (map.has("classes")) r.classes = class_ids(map.get("classes"), primary);
        if (map.has("streams")) {
            const YAML::Node v = map.get("streams");
            r.streams = string_list(v, "streams");
            for (const std::string& s : r.streams)
                if (!streams.contains(s)) fail(v, "rule '" + r.name + "' names an unknown stream '" + s + "'");
        }
        map.read("min_score", r.min_score, 0.0f, 1.0f);
        map.read("min_area", r.min_area, 0.0f, 1e9f);
        if (map.has("text")) {
            const YAML::Node v = map.get("text");
            r.text_pattern = Map::scalar<std::string>(v, "text");
            try {
                std::regex check(r.text_pattern);
            } catch (const std::regex_error& e) {
                fail(v, "'text' is not a valid regular expression: " + std::string(e.what()));
            }
        }
        if (map.has("zones")) {
            const YAML::Node zones = map.get("zones");
            if (!zones.IsSequence()) fail(zones, "'zones' must be a list of polygons");
            for (const auto& poly : zones) {
                if (!poly.IsSequence() || poly.size() < 3) fail(poly, "a zone must be a list of at least 3 [x, y] points");
                std::vector<Point> points;
                for (const auto& p : poly) {
                    if (!p.IsSequence() || p.size() != 2) fail(p, "a zone point must be [x, y]");
                    points.push_back({Map::scalar<float>(p[0], "zones"), Map::scalar<float>(p[1], "zones")});
                }
                r.zones.push_back(std::move(points));
            }
        }
        if (map.has("debounce")) {
            const YAML::Node d = map.get("debounce");
            Map dm(d, "'debounce'");
            dm.read("n", r.debounce_n, 1, 1000);
            dm.read("m", r.debounce_m, 1, 1000);
            dm.check_unknown();
            if (r.debounce_n > r.debounce_m) fail(d, "'debounce': n must not exceed m");
        }
        if (map.has("attach")) {
            const YAML::Node a = map.get("attach");
            Map am(a, "'attach'");
            if (am.has("classes")) r.attach_classes = class_ids(am.get("classes"), primary);
            if (am.has("within")) r.attach_within = class_ids(am.get("within"), primary);
            am.check_unknown();
            if (r.attach_classes.empty() || r.attach_within.empty()) fail(a, "'attach' needs 'classes' and 'within'");
        }
        map.check_unknown();
        return r;
    }

    SinkConfig parse_sinks(const YAML::Node& node) {
        SinkConfig s;
        Map map(node, "'sinks'");
        if (map.has("jsonl")) {
            Map j(map.get("jsonl"), "'jsonl'");
            j.read("path", s.jsonl_path);
            j.read("detections", s.jsonl_detections);
            j.check_unknown();
            s.jsonl_path = resolve(s.jsonl_path, node);
        }
        if (map.has("snapshots")) {
            Map j(map.get("snapshots"), "'snapshots'");
            j.read("dir", s.snapshot_dir);
            j.read("quality", s.snapshot_quality, 1, 100);
            j.check_unknown();
            s.snapshot_dir = resolve(s.snapshot_dir, node);
        }
        if (map.has("video")) {
            Map j(map.get("video"), "'video'");
            j.read("path", s.video_path);
            if (j.has("streams")) s.video_streams = string_list(j.get("streams"), "streams");
            j.read("fps", s.video_fps, 1.0, 240.0);
            j.check_unknown();
            s.video_path = resolve(s.video_path, node);
        }
        if (map.has("console")) {
            const YAML::Node v = map.get("console");
            if (v.IsScalar()) {
                s.console = Map::scalar<bool>(v, "console");
            } else {
                Map j(v, "'console'");
                j.read("enabled", s.console);
                j.read("interval_s", s.console_interval_s, 0.1, 3600.0);
                j.check_unknown();
            }
        }
        map.check_unknown();
        return s;
    }

    std::string base_dir_;
};

}  // namespace

const char* output_kind_name(OutputKind kind) {
    switch (kind) {
        case OutputKind::kYoloV5:
            return "yolov5";
        case OutputKind::kYoloV8:
            return "yolov8";
        case OutputKind::kClassify:
            return "classify";
        case OutputKind::kCtc:
            return "ctc";
        case OutputKind::kDbText:
            return "db";
    }
    return "?";
}

Result<PipelineConfig> parse_config(const std::string& text, const std::string& name, const std::string& base_dir) {
    auto where = [&](const YAML::Mark& mark) {
        if (mark.is_null()) return name;
        return name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    };
    try {
        const YAML::Node root = YAML::Load(text);
        if (!root.IsDefined() || root.IsNull()) return invalid_argument(name + ": empty pipeline file");
        PipelineConfig c = Parser(base_dir).parse(root);
        c.file = name;
        return c;
    } catch (const ConfigError& e) {
        return invalid_argument(where(e.mark) + ": " + e.message);
    } catch (const YAML::Exception& e) {
        return invalid_argument(where(e.mark) + ": " + e.msg);
    }
}

Result<PipelineConfig> load_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found(path + ": cannot open the pipeline file");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string dir = std::filesystem::absolute(path).parent_path().string();
    return parse_config(ss.str(), path, dir);
}

}  // namespace fovea::pipeline
