#include <gtest/gtest.h>

#include "pipeline/config.h"

namespace fovea::pipeline {
namespace {

// A valid file to start from; tests append or replace lines.
const std::string kBase = R"(models:
  det:
    path: det.onnx
    type: yolov8
    labels: [part, scratch, dent]
    max_batch: 4
    class_thresholds: {scratch: 0.6}
sources:
  - name: cam{i}
    uri: synthetic
    count: 3
    fps: 15
    rois: [[0, 0, 320, 240], [320, 0, 0, 0]]
    equalize: clahe
rules:
  - name: defect
    classes: [scratch, dent]
    min_area: 100
    zones: [[[0, 0], [100, 0], [100, 100]]]
    debounce: {n: 2, m: 3}
)";

Result<PipelineConfig> parse(const std::string& text) { return parse_config(text, "p.yaml", "/models"); }

TEST(Config, ParsesAValidFileAndExpandsCountedStreams) {
    auto c = parse(kBase);
    ASSERT_TRUE(c.is_ok()) << c.status().message();
    EXPECT_EQ(c->primary, "det");
    const ModelConfig& m = c->models.at("det");
    EXPECT_EQ(m.path, "/models/det.onnx");
    EXPECT_EQ(m.output, OutputKind::kYoloV8);
    EXPECT_EQ(m.max_batch, 4);
    ASSERT_EQ(m.detect.class_thresholds.size(), 2u);
    EXPECT_FLOAT_EQ(m.detect.class_thresholds[0], m.detect.conf_threshold);  // unnamed classes keep the default
    EXPECT_FLOAT_EQ(m.detect.class_thresholds[1], 0.6f);
    ASSERT_EQ(c->streams.size(), 3u);
    EXPECT_EQ(c->streams[2].source.name, "cam2");
    EXPECT_EQ(c->streams[2].source.seed, 2u);
    EXPECT_EQ(c->streams[0].rois.size(), 2u);
    EXPECT_EQ(c->streams[0].equalize, vision::Equalize::kClahe);
    ASSERT_EQ(c->rules.size(), 1u);
    EXPECT_EQ(c->rules[0].classes, (std::vector<int>{1, 2}));
    EXPECT_EQ(c->rules[0].debounce_n, 2);
    EXPECT_EQ(c->rules[0].zones[0].size(), 3u);
}

TEST(Config, UnknownKeyIsAnErrorWithLineAndColumn) {
    std::string text = kBase;
    text.replace(text.find("    fps: 15"), 11, "    fsp: 15");
    auto c = parse(text);
    ASSERT_FALSE(c.is_ok());
    EXPECT_EQ(c.status().message(), "p.yaml:12:5: unknown key 'fsp'");
}

TEST(Config, BadValuesNameTheirPlace) {
    struct Case {
        std::string from, to, message;
    };
    const Case cases[] = {
        {"max_batch: 4", "max_batch: 0", "p.yaml:6:16: 'max_batch' must be between 1 and 1024 (got 0)"},
        {"max_batch: 4", "max_batch: four", "p.yaml:6:16: 'max_batch' has a bad value 'four'"},
        {"type: yolov8", "type: yolo9", "p.yaml:4:11: 'type' must be one of yolov5, yolov8, classify, ctc, db (got 'yolo9')"},
        {"equalize: clahe", "equalize: strong", "p.yaml:14:15: 'equalize' must be one of none, global, clahe (got 'strong')"},
        {"classes: [scratch, dent]", "classes: [scratch, crack]", "p.yaml:17:24: model 'det' has no class 'crack'"},
        {"{n: 2, m: 3}", "{n: 4, m: 3}", "p.yaml:20:15: 'debounce': n must not exceed m"},
        {"uri: synthetic", "uri: synthetic\n    type: webcam", "p.yaml:9:5: "},
    };
    for (const Case& k : cases) {
        std::string text = kBase;
        text.replace(text.find(k.from), k.from.size(), k.to);
        auto c = parse(text);
        ASSERT_FALSE(c.is_ok()) << k.to;
        EXPECT_EQ(c.status().message().substr(0, k.message.size()), k.message) << c.status().message();
    }
}

TEST(Config, SyntaxErrorsAndMissingSectionsAreReported) {
    auto bad = parse("models: {det: {path: a.onnx}\nsources: [");
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find("p.yaml:"), std::string::npos) << bad.status().message();

    auto no_sources = parse("models:\n  det: {path: a.onnx}\n");
    ASSERT_FALSE(no_sources.is_ok());
    EXPECT_NE(no_sources.status().message().find("'sources' must be a non-empty list"), std::string::npos);

    auto empty = parse("");
    ASSERT_FALSE(empty.is_ok());
    EXPECT_EQ(empty.status().message(), "p.yaml: empty pipeline file");
}

TEST(Config, DuplicateStreamNamesAreRefused) {
    auto c = parse(R"(models: {det: {path: a.onnx}}
sources:
  - {name: a, uri: synthetic}
  - {name: a, uri: synthetic}
)");
    ASSERT_FALSE(c.is_ok());
    EXPECT_NE(c.status().message().find("two streams are named 'a'"), std::string::npos) << c.status().message();
}

TEST(Config, CascadeNeedsAClassifierOrTextModel) {
    const std::string models = R"(models:
  det: {path: a.onnx, type: yolov5, labels: [car, plate]}
  reader: {path: b.onnx, type: ctc, charset: keys.txt}
sources: [{name: a, uri: synthetic}]
cascade:
  - {model: reader, classes: [plate], padding: 0.1}
)";
    auto c = parse(models);
    ASSERT_TRUE(c.is_ok()) << c.status().message();
    ASSERT_EQ(c->cascades.size(), 1u);
    EXPECT_EQ(c->cascades[0].classes, std::vector<int>{1});
    EXPECT_EQ(c->models.at("reader").charset_path, "/models/keys.txt");

    std::string wrong = models;
    wrong.replace(wrong.find("model: reader"), 13, "model: det");
    auto w = parse(wrong);
    ASSERT_FALSE(w.is_ok());
    EXPECT_NE(w.status().message().find("cannot be its own cascade"), std::string::npos) << w.status().message();
}

}  // namespace
}  // namespace fovea::pipeline
