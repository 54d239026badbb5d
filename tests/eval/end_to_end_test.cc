// A short `fovea eval` in CI: the committed detector (and the PP-OCRv4 recognizer when the cache has it) on a small
// generated clip, through the real pipeline, must clear fixed floors. The floors sit below the model card's numbers
// with room for a short clip's noise; a broken model, decoder, preprocessing or metric falls through them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/cache_dir.h"
#include "eval/evaluate.h"
#include "synth/scene.h"

namespace fovea::eval {
namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(FOVEA_SOURCE_DIR) / "models" / "factory_detector.onnx";

// The committed model on this clip (CPU fp32, synth drawing version 2) measured mAP 0.85 (its one scratch is found
// but boxed at IoU < 0.5), alarm recall 4/4 and precision 4/4 (10 parts, 4 defective: one part more or less moves
// them by 0.25 and 0.2), serials 283/283. The floors leave room for one part.
constexpr double kFloorMap = 0.8;
constexpr double kFloorAlarmRecall = 0.75;
constexpr double kFloorAlarmPrecision = 0.6;
constexpr double kFloorSerial = 0.9;

// Seed 77 is not among the training seeds (tools/train/train.sh uses 1000 and 2000).
fs::path make_clip() {
    // One directory per process: ctest runs the tests of this file in parallel processes.
    const fs::path dir = fs::path(FOVEA_TEST_TMP) / ("e2e_clip_" + std::to_string(::getpid()));
    if (fs::exists(dir / "manifest.json")) return dir;
    synth::SynthOptions o;
    o.streams = 4;  // one per lighting profile
    o.duration_s = 3;
    o.seed = 77;
    o.defect_rate = 0.5;
    EXPECT_TRUE(synth::generate(o, dir.string()).is_ok());
    return dir;
}

fs::path write_pipeline(bool with_ocr) {
    const fs::path path = fs::path(FOVEA_TEST_TMP) / ((with_ocr ? "e2e_ocr_" : "e2e_") + std::to_string(::getpid()) + ".yaml");
    const std::string models = fs::path(FOVEA_SOURCE_DIR) / "models";
    std::ofstream out(path);
    out << "models:\n"
           "  detector:\n"
           "    path: "
        << models
        << "/factory_detector.onnx\n"
           "    type: yolov8\n"
           "    labels_file: "
        << models
        << "/factory_detector.labels\n"
           "    max_batch: 4\n"
           "    input: {width: 768, height: 448, resize: stretch, color: bgr, scale: 0.0039215686}\n"
           "    conf_threshold: 0.3\n";
    if (with_ocr) {
        const std::string ocr = cache_dir() / "models" / "ppocr";
        out << "  serial_rec:\n"
               "    path: "
            << ocr
            << "/rec.onnx\n"
               "    type: ctc\n"
               "    charset: "
            << ocr
            << "/ppocr_keys_v1.txt\n"
               "    max_batch: 8\n"
               "    input: {width: 320, height: 48, color: bgr, scale: 0.0039215686, mean: 0.5, std: 0.5, pad_value: "
               "128}\n"
               "cascade:\n"
               "  - {model: serial_rec, classes: [label], padding: 0.08}\n";
    }
    out << "sources:\n"
           "  - {uri: placeholder.mp4, equalize: global}\n"
           "rules:\n"
           "  - {name: defect, classes: [scratch, dent, crack, missing_tooth], min_score: 0.5}\n";
    return path;
}

TEST(EndToEnd, committed_detector_clears_the_floors_on_a_generated_clip) {
    if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " is missing";
    EvalOptions o;
    o.data = make_clip().string();
    o.pipeline = write_pipeline(false).string();
    auto r = run_eval(o);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    const auto& report = *r;
    EXPECT_EQ(report["frames_scored"].get<int>(), 4 * 45);
    EXPECT_GE(report["detection"]["map"].get<double>(), kFloorMap) << to_markdown(report);
    EXPECT_GE(report["alarms"]["recall"].get<double>(), kFloorAlarmRecall) << to_markdown(report);
    EXPECT_GE(report["alarms"]["precision"].get<double>(), kFloorAlarmPrecision) << to_markdown(report);
}

TEST(EndToEnd, serial_numbers_read_by_the_ocr_cascade_clear_the_floor) {
    if (!fs::exists(kModel)) GTEST_SKIP() << kModel << " is missing";
    if (!fs::exists(cache_dir() / "models" / "ppocr" / "rec.onnx"))
        GTEST_SKIP() << "no PP-OCRv4 rec model (make models)";
    EvalOptions o;
    o.data = make_clip().string();
    o.pipeline = write_pipeline(true).string();
    auto r = run_eval(o);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_GE((*r)["serial"]["rate"].get<double>(), kFloorSerial) << to_markdown(*r);
}

}  // namespace
}  // namespace fovea::eval
