// score() on generated footage, with predictions replayed from the ground truth (a fake detector for the metric
// code only: it proves the bookkeeping, not any model).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "eval/evaluate.h"
#include "synth/scene.h"

namespace fovea::eval {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kDefects = {"scratch", "dent", "crack", "missing_tooth"};

const Dataset& dataset() {
    static const Dataset d = [] {
        // One directory per process: ctest runs each test of this file as its own process, in parallel.
        const fs::path dir = fs::path(FOVEA_TEST_TMP) / ("score_data_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        synth::SynthOptions o;
        o.width = 640;
        o.height = 360;
        o.fps = 10;
        o.duration_s = 4;
        o.streams = 2;
        o.defect_rate = 0.5;
        o.seed = 11;
        EXPECT_TRUE(synth::generate(o, dir.string()).is_ok());
        auto loaded = load_dataset(dir.string());
        EXPECT_TRUE(loaded.is_ok()) << loaded.status().message();
        fs::remove_all(dir);
        return std::move(loaded).value();
    }();
    return d;
}

int class_id(const std::string& name) {
    const auto& c = synth::class_names();
    return static_cast<int>(std::find(c.begin(), c.end(), name) - c.begin());
}

pipeline::DetectionResult det(const nlohmann::json& box, const std::string& cls, float score = 0.9f) {
    pipeline::DetectionResult d;
    d.det.box = {box[0].get<float>(), box[1].get<float>(), box[2].get<float>(), box[3].get<float>()};
    d.det.class_id = class_id(cls);
    d.det.score = score;
    return d;
}

// Replays the truth of every frame as detections; `keep_defect` filters defect boxes, `serial` rewrites label text.
Predictions replay(const Dataset& data, const std::function<bool(const nlohmann::json&)>& keep_defect,
                   const std::function<std::string(const std::string&)>& serial) {
    Predictions p(data.streams.size());
    for (size_t s = 0; s < data.streams.size(); ++s)
        for (const auto& f : data.streams[s].truth["frames"]) {
            auto& dets = p[s][f["index"].get<int64_t>()];
            for (const auto& part : f["parts"]) {
                dets.push_back(det(part["box"], part["class"]));
                if (!part["label_box"].is_null()) {
                    auto label = det(part["label_box"], "label");
                    label.text = serial(part["serial"]);
                    dets.push_back(label);
                }
                for (const auto& d : part["defects"])
                    if (keep_defect(d)) dets.push_back(det(d["box"], d["class"]));
            }
        }
    return p;
}

ScoreOptions options() {
    ScoreOptions o;
    o.labels = synth::class_names();
    pipeline::RuleConfig rule;
    rule.name = "defect";
    for (const auto& d : kDefects) rule.classes.push_back(class_id(d));
    o.rules = {rule};
    return o;
}

TEST(Score, replayed_ground_truth_scores_one_everywhere) {
    const auto r = score(dataset(),
                         replay(
                             dataset(), [](const auto&) { return true; }, [](const auto& s) { return s; }),
                         options());
    EXPECT_DOUBLE_EQ(r["detection"]["map"].get<double>(), 1.0) << r.dump(2);
    for (const auto& [name, c] : r["detection"]["classes"].items()) {
        if (c["truths"].get<int>() > 0) {
            EXPECT_DOUBLE_EQ(c["ap"].get<double>(), 1.0) << name;
        }
    }
    EXPECT_GT(r["alarms"]["defective"].get<int>(), 0);
    EXPECT_DOUBLE_EQ(r["alarms"]["precision"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(r["alarms"]["recall"].get<double>(), 1.0);
    EXPECT_GT(r["serial"]["observations"].get<int>(), 10);
    EXPECT_DOUBLE_EQ(r["serial"]["rate"].get<double>(), 1.0);
    EXPECT_EQ(r["frames_scored"].get<int>(), 80);
}

TEST(Score, dropping_every_scratch_loses_its_ap_and_the_alarms_of_scratch_only_parts) {
    const auto r =
        score(dataset(),
              replay(
                  dataset(), [](const auto& d) { return d["class"] != "scratch"; }, [](const auto& s) { return s; }),
              options());
    const auto& scratch = r["detection"]["classes"]["scratch"];
    ASSERT_GT(scratch["truths"].get<int>(), 0) << "the seed must draw a scratch";
    EXPECT_DOUBLE_EQ(scratch["ap"].get<double>(), 0.0);
    EXPECT_LT(r["detection"]["map"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(r["alarms"]["precision"].get<double>(), 1.0);
    EXPECT_LE(r["alarms"]["recall"].get<double>(), 1.0);
}

TEST(Score, misread_serials_count_as_misses_and_spaces_are_ignored) {
    int n = 0;
    const auto r =
        score(dataset(),
              replay(
                  dataset(), [](const auto&) { return true; },
                  [&](const std::string& s) { return ++n % 2 ? s.substr(0, 3) + " " + s.substr(3) : s + "X"; }),
              options());
    const double rate = r["serial"]["rate"].get<double>();
    EXPECT_GT(rate, 0.3);
    EXPECT_LT(rate, 0.7);
}

// The truth replayed (scores 0.9), plus a scratch of `fake_score` on every part's own box (in every `every`-th frame).
Predictions with_fake_scratches(float fake_score, int every = 1) {
    Predictions p = replay(
        dataset(), [](const auto&) { return true; }, [](const auto& s) { return s; });
    for (size_t s = 0; s < p.size(); ++s)
        for (auto& [index, dets] : p[s]) {
            if (index % every) continue;
            std::vector<pipeline::DetectionResult> extra;
            for (const auto& d : dets)
                if (d.det.class_id <= 2) {
                    auto fake = d;
                    fake.det.class_id = class_id("scratch");
                    fake.det.score = fake_score;
                    extra.push_back(fake);
                }
            dets.insert(dets.end(), extra.begin(), extra.end());
        }
    return p;
}

TEST(Score, alarms_on_sound_parts_lower_precision) {
    // Every sound part is a false alarm.
    const auto r = score(dataset(), with_fake_scratches(0.9f), options());
    const auto& a = r["alarms"];
    EXPECT_EQ(a["alarmed"].get<int>(), a["parts"].get<int>());
    EXPECT_NEAR(a["precision"].get<double>(), a["defective"].get<double>() / a["parts"].get<double>(), 1e-12);
    EXPECT_DOUBLE_EQ(a["recall"].get<double>(), 1.0);
}

TEST(Score, alarm_sweep_rescores_with_each_min_score) {
    // The fakes score 0.55: a min_score of 0.5 alarms every part, 0.6 only the defective ones; the rule's own
    // min_score (0) gives the main row.
    ScoreOptions o = options();
    o.alarm_sweep = {0.5, 0.6};
    const auto r = score(dataset(), with_fake_scratches(0.55f), o);
    const auto& a = r["alarms"];
    ASSERT_EQ(a["sweep"].size(), 2u);
    EXPECT_EQ(a["alarmed"].get<int>(), a["parts"].get<int>());
    EXPECT_DOUBLE_EQ(a["sweep"][0]["min_score"].get<double>(), 0.5);
    EXPECT_EQ(a["sweep"][0]["debounce"]["n"].get<int>(), a["debounce"]["n"].get<int>());
    EXPECT_EQ(a["sweep"][0]["alarmed"].get<int>(), a["parts"].get<int>());
    EXPECT_LT(a["sweep"][0]["precision"].get<double>(), 1.0);
    EXPECT_EQ(a["sweep"][1]["alarmed"].get<int>(), a["defective"].get<int>());
    EXPECT_DOUBLE_EQ(a["sweep"][1]["precision"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(a["sweep"][1]["recall"].get<double>(), 1.0);
}

TEST(Score, debounce_counts_matches_in_a_window_of_consecutive_frames) {
    // Fakes on every part in every other frame: never two frames in a row, but two in every three.
    ScoreOptions o = options();
    o.alarm_sweep = {0.5};
    o.alarm_sweep_debounce = {{2, 2}, {2, 3}, {1, 1}};
    const auto r = score(dataset(), with_fake_scratches(0.55f, 2), o);
    const auto& sweep = r["alarms"]["sweep"];
    ASSERT_EQ(sweep.size(), 3u);
    const int parts = r["alarms"]["parts"].get<int>(), defective = r["alarms"]["defective"].get<int>();
    ASSERT_LT(defective, parts) << "the seed must draw sound parts";
    EXPECT_EQ(sweep[0]["debounce"]["m"].get<int>(), 2);
    EXPECT_EQ(sweep[0]["alarmed"].get<int>(), defective);  // 2 of 2: the fakes never are
    EXPECT_DOUBLE_EQ(sweep[0]["recall"].get<double>(), 1.0);
    EXPECT_EQ(sweep[1]["alarmed"].get<int>(), parts);  // 2 of 3: every part stays in view for 3 frames and more
    EXPECT_EQ(sweep[2]["alarmed"].get<int>(), parts);
}

}  // namespace
}  // namespace fovea::eval
