// Whole pipelines on real video: clips made by the ffmpeg CLI, decoded by FFmpeg, a real ONNX model on the CPU
// backend, events and snapshots on disk.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "../media/host_backed_surface.h"
#include "../media/rtsp_test_server.h"
#include "../passes/pass_test_util.h"
#include "media/encode.h"
#include "media/source.h"
#include "pipeline/config.h"
#include "pipeline/pipeline.h"
#include "pipeline/sinks.h"
#include "vision/preprocess_cuda.h"

namespace fovea::pipeline {
namespace {

namespace fs = std::filesystem;

fs::path tmp_dir(const std::string& name) {
    const fs::path dir = fs::path(FOVEA_TEST_TMP) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

// A "brightness detector" with a YOLOv8-style head [N, 4 + 2, 1024]: every cell predicts the box (8,8)-(24,24) of
// the 32x32 input, class 0 ("bright") with the mean of the pixel's channels, class 1 ("dark") with one minus it.
// NMS folds the 1024 identical boxes into one, so a white frame yields one "bright" box and a black one a "dark" box.
std::string brightness_detector(int size = 32, int slow_channels = 0) {
    test::ModelBuilder b;
    b.input("x", {"batch", "3", std::to_string(size), std::to_string(size)});
    std::string features = "x";
    if (slow_channels > 0) {
        // Optional dead weight to make the model slow: a wide 3x3 convolution whose result is multiplied by zero.
        b.weight("slow_w", {slow_channels, 3, 3, 3});
        auto& conv = b.node("Conv", {"x", "slow_w"}, {"slow"});
        test::set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
        b.constant("zero", {1}, {0.0f});
        b.node("ReduceMean", {"slow"}, {"slow_mean"});
        b.node("Mul", {"slow_mean", "zero"}, {"slow_zero"});
        b.node("Add", {"x", "slow_zero"}, {"x2"});
        features = "x2";
    }
    const float c = static_cast<float>(size);
    std::vector<float> w(6 * 3, 0.0f);
    for (int i = 0; i < 3; ++i) {
        w[4 * 3 + i] = 1.0f / 3;
        w[5 * 3 + i] = -1.0f / 3;
    }
    b.constant("w", {6, 3, 1, 1}, w);
    b.constant("bias", {6}, {c / 2, c / 2, c / 2, c / 2, 0.0f, 1.0f});
    b.node("Conv", {features, "w", "bias"}, {"y"});
    b.ints("shape", {0, 6, -1});
    b.node("Reshape", {"y", "shape"}, {"output0"});
    b.output("output0");
    return b.bytes();
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

void ffmpeg(const std::string& args) {
    const std::string cmd = "ffmpeg -hide_banner -loglevel error -y " + args;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// white 1 s, black 1 s, white 1 s at 10 fps, 64x48, H.264.
void make_blink_clip(const fs::path& path) {
    ffmpeg(
        "-f lavfi -i \"color=c=white:s=64x48:r=10:d=1[a];color=c=black:s=64x48:r=10:d=1[b];"
        "color=c=white:s=64x48:r=10:d=1[c];[a][b][c]concat=n=3[out0]\" -c:v libx264 -pix_fmt yuv420p " +
        path.string());
}

// White 1 s, black 1 s, white 1 s at 10 fps, 320x184, H.264 written by our own encoder (the GPU test machine has no
// ffmpeg CLI). 184 rows are coded as 192, so NVDEC's chroma plane does not follow the luma rows.
Status write_blink_clip(const fs::path& path) {
    FOVEA_ASSIGN(auto writer, media::VideoWriter::open(path.string(), 320, 184, 10));
    for (int i = 0; i < 30; ++i) {
        media::Frame f = media::make_bgr_frame(320, 184);
        if (i < 10 || i >= 20) std::memset(f.pixels.get(), 255, static_cast<size_t>(f.stride) * f.height);
        FOVEA_TRY(writer->write(f));
    }
    return writer->close();
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
    std::vector<nlohmann::json> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

std::string model_yaml(const fs::path& model, int max_batch = 4) {
    return "models:\n  det:\n    path: " + model.string() +
           "\n    type: yolov8\n    labels: [bright, dark]\n    conf_threshold: 0.6\n    max_batch: " +
           std::to_string(max_batch) + "\n    max_delay_us: 2000\n    input: {width: 32, height: 32}\n";
}

Result<std::unique_ptr<Pipeline>> make(const std::string& yaml, const fs::path& dir) {
    FOVEA_ASSIGN(PipelineConfig c, parse_config(yaml, (dir / "p.yaml").string(), dir.string()));
    RunOptions o;
    o.console = false;
    return Pipeline::create(std::move(c), o);
}

TEST(Pipeline, VideoStreamsRaiseOneAlarmPerBrightStretchWithBoxesInFrameCoordinates) {
    const fs::path dir = tmp_dir("alarms");
    write_file(dir / "det.onnx", brightness_detector());
    make_blink_clip(dir / "blink.mp4");
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: "cam{i}", uri: blink.mp4, count: 2, realtime: false, at_end: stop}
rules:
  - {name: light, classes: [bright], min_score: 0.9, debounce: {n: 2, m: 3}}
sinks:
  jsonl: {path: out/events.jsonl, detections: true}
  snapshots: {dir: out/snaps}
  video: {path: "out/{stream}.mp4", streams: [cam1], fps: 10}
)";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(20.0);
    const nlohmann::json s = (*p)->summary();
    for (const auto& stream : s["streams"]) {
        EXPECT_EQ(stream["decoded"], 30) << stream.dump();
        EXPECT_EQ(stream["inferred"], 30) << stream.dump();
        EXPECT_EQ(stream["dropped"], 0);
        EXPECT_EQ(stream["alarms"], 2) << "the white stretches at frames 0-9 and 20-29";
    }
    const auto lines = read_jsonl(dir / "out/events.jsonl");
    int alarms = 0, frames = 0;
    for (const auto& j : lines) {
        if (j["type"] == "alarm") {
            ++alarms;
            EXPECT_EQ(j["rule"], "light");
            // Raised on the second frame of a white stretch (2 of 3): frame 1 or 21.
            EXPECT_TRUE(j["frame"] == 1 || j["frame"] == 21) << j.dump();
            ASSERT_EQ(j["detections"].size(), 1u);
            const auto& box = j["detections"][0]["box"];
            // (8,8)-(24,24) in the 32x32 input; the 64x48 frame is letterboxed at scale 0.5 with 4 rows of padding.
            EXPECT_NEAR(box[0].get<double>(), 16, 0.5);
            EXPECT_NEAR(box[1].get<double>(), 8, 0.5);
            EXPECT_NEAR(box[2].get<double>(), 48, 0.5);
            EXPECT_NEAR(box[3].get<double>(), 40, 0.5);
            EXPECT_EQ(j["detections"][0]["class"], "bright");
            EXPECT_GT(j["latency_ms"].get<double>(), 0.0);
        } else {
            ++frames;
            const int index = j["frame"];
            const bool white = index < 10 || index >= 20;
            // Compression blurs the cuts: judge only frames away from them.
            if (index % 10 == 0 || index % 10 == 9) continue;
            ASSERT_EQ(j["detections"].size(), 1u) << j.dump();
            EXPECT_EQ(j["detections"][0]["class"], white ? "bright" : "dark") << j.dump();
        }
    }
    EXPECT_EQ(alarms, 4);
    EXPECT_EQ(frames, 60);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir / "out/snaps"), fs::directory_iterator{}), 4);
    // The annotated video holds every inferred frame of the stream it was asked for, and only that stream's.
    EXPECT_FALSE(fs::exists(dir / "out/cam0.mp4"));
    media::SourceSpec video;
    video.uri = (dir / "out/cam1.mp4").string();
    video.realtime = false;
    auto source = media::make_source(video);
    ASSERT_TRUE(source.is_ok()) << source.status().message();
    ASSERT_TRUE((*source)->open().is_ok());
    int video_frames = 0;
    media::Frame f;
    for (auto got = (*source)->read(f); got.is_ok() && got.value(); got = (*source)->read(f)) ++video_frames;
    EXPECT_EQ(video_frames, 30);
    EXPECT_EQ(f.width, 64);
    EXPECT_GT(s["batch_sizes"].size(), 0u);
}

// Debian's opencv-doc samples: a street scene and a damaged file, read to the end next to each other.
TEST(Pipeline, OpencvSampleVideosIncludingADamagedOneRunToTheEnd) {
    const fs::path data = "/usr/share/doc/opencv-doc/examples/data";
    if (!fs::exists(data / "vtest.avi") || !fs::exists(data / "Megamind_bugy.avi"))
        GTEST_SKIP() << "opencv-doc sample videos not installed (scripts/install-deps.sh installs them)";
    const fs::path dir = tmp_dir("samples");
    write_file(dir / "det.onnx", brightness_detector());
    const std::string yaml =
        model_yaml(dir / "det.onnx", 8) + "sources:\n  - {name: street, uri: " + (data / "vtest.avi").string() +
        ", realtime: false, at_end: stop}\n" + "  - {name: damaged, uri: " + (data / "Megamind_bugy.avi").string() +
        ", realtime: false, at_end: stop}\n";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(60.0);
    const nlohmann::json s = (*p)->summary();
    EXPECT_EQ(s["streams"][0]["inferred"], 795) << s["streams"][0].dump();
    EXPECT_EQ(s["streams"][0]["dropped"], 0);
    // FFmpeg reads the damaged file through: every frame it yields is inferred, none lost in the pipeline.
    EXPECT_GT(s["streams"][1]["inferred"].get<int>(), 200) << s["streams"][1].dump();
    EXPECT_EQ(s["streams"][1]["inferred"], s["streams"][1]["decoded"]);
    EXPECT_EQ(s["streams"][1]["state"], "stopped");
    EXPECT_EQ(s["inference_errors"], 0);
}

TEST(Pipeline, StreamThatEndsReconnectsWithBackoff) {
    const fs::path dir = tmp_dir("reconnect");
    write_file(dir / "det.onnx", brightness_detector());
    ffmpeg("-f lavfi -i color=c=white:s=64x48:r=10:d=0.5 -c:v libx264 -pix_fmt yuv420p " +
           (dir / "short.mp4").string());
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: cam, uri: short.mp4, realtime: false, reconnect: {initial_ms: 50, max_ms: 200}}
)";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(4.0);  // at least 3 cycles of open, 5 frames, <= 200 ms backoff, with room for a loaded machine
    const nlohmann::json s = (*p)->summary()["streams"][0];
    EXPECT_GE(s["reconnects"].get<int>(), 3) << s.dump();
    EXPECT_GE(s["decoded"].get<int>(), 4 * 5) << s.dump();
    EXPECT_EQ(s["last_error"], "end of stream");
}

TEST(Pipeline, BrokenAndMissingSourcesDoNotStopTheOthers) {
    const fs::path dir = tmp_dir("broken");
    write_file(dir / "det.onnx", brightness_detector());
    make_blink_clip(dir / "good.mp4");
    // A damaged copy: the middle of the file overwritten with garbage.
    ffmpeg("-f lavfi -i testsrc2=s=160x120:r=25:d=4 -c:v libx264 -pix_fmt yuv420p " + (dir / "src.mp4").string());
    {
        std::ifstream in(dir / "src.mp4", std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 4000 && i < bytes.size(); i += 7) bytes[i] ^= 0x5a;
        write_file(dir / "damaged.mp4", bytes);
    }
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: good, uri: good.mp4, realtime: false, at_end: stop}
  - {name: damaged, uri: damaged.mp4, realtime: false, at_end: stop}
  - {name: missing, uri: nowhere.mp4, reconnect: {initial_ms: 20, max_ms: 40}}
)";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    std::atomic<bool> stop{false};
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::seconds(4));
        stop = true;
    });
    (*p)->run(0, &stop);
    stopper.join();
    const auto s = (*p)->summary()["streams"];
    EXPECT_EQ(s[0]["inferred"], 30) << s[0].dump();
    EXPECT_GT(s[1]["inferred"].get<int>(), 10) << s[1].dump();
    EXPECT_EQ(s[2]["inferred"], 0);
    EXPECT_GE(s[2]["reconnects"].get<int>(), 0);
    EXPECT_NE(s[2]["last_error"].get<std::string>().find("nowhere.mp4"), std::string::npos) << s[2].dump();
}

TEST(Pipeline, SlowModelDropsOldFramesAndKeepsLatencyBounded) {
    const fs::path dir = tmp_dir("slow");
    write_file(dir / "slow.onnx", brightness_detector(64, 256));
    // Two cameras at 50 fps against a model that needs tens of ms per batch: the queue must shed frames.
    const std::string yaml = R"(pipeline: {queue_depth: 1}
models:
  det:
    path: slow.onnx
    backend: ref
    type: yolov8
    labels: [bright, dark]
    max_batch: 1
    input: {width: 64, height: 64}
sources:
  - {name: "cam{i}", uri: synthetic, count: 2, fps: 50, width: 320, height: 240}
)";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(3.0);
    const nlohmann::json s = (*p)->summary();
    const double infer_p50 = s["batch_inference_ms"]["p50"];
    int64_t dropped = 0, inferred = 0;
    for (const auto& stream : s["streams"]) {
        dropped += stream["dropped"].get<int64_t>();
        inferred += stream["inferred"].get<int64_t>();
        // A frame waits behind at most: the batch in flight and the other stream's queued frame, plus its own run.
        EXPECT_LT(stream["latency_ms"]["p99"].get<double>(), 6 * infer_p50 + 50) << s.dump(2);
    }
    const double fps_in = 2 * 50.0, fps_out = 1000.0 / infer_p50;
    ASSERT_LT(fps_out, fps_in * 0.8) << "the model is not slow enough for this test: " << infer_p50 << " ms";
    EXPECT_GT(dropped, 0) << s.dump(2);
    EXPECT_GT(inferred, 0);
}

// One 40 fps synthetic camera, 64x48, through the brightness detector, in its own folder.
Result<std::unique_ptr<Pipeline>> synthetic_camera_pipeline(const std::string& name) {
    const fs::path dir = tmp_dir(name);
    write_file(dir / "det.onnx", brightness_detector());
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: a, uri: synthetic, fps: 40, width: 64, height: 48}
)";
    return make(yaml, dir);
}

TEST(Pipeline, WarmupIsLeftOutOfTheStatistics) {
    auto p = synthetic_camera_pipeline("warmup");
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(1.0, nullptr, 1.5);
    const nlohmann::json s = (*p)->summary();
    // The window is the second after the warm-up: at most 40 frames decoded in it (the whole run has about 100).
    EXPECT_NEAR(s["duration_s"].get<double>(), 1.0, 0.3) << s.dump(2);
    const int64_t decoded = s["streams"][0]["decoded"], inferred = s["streams"][0]["inferred"];
    EXPECT_LE(decoded, 40 * 1.3 + 2) << s.dump(2);
    EXPECT_GT(inferred, 0) << s.dump(2);
    int64_t batched = 0;
    for (const auto& [size, count] : s["batch_sizes"].items()) batched += std::stoll(size) * count.get<int64_t>();
    EXPECT_LE(batched, inferred + 4) << "batches from before the reset were counted: " << s.dump(2);
}

TEST(Pipeline, TheSummaryCoversTheWindowAndReportsTheTeardownApart) {
    auto p = synthetic_camera_pipeline("window");
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->run(1.0);
    const nlohmann::json s = (*p)->summary();
    // The window ends when the second is up, before the streams stop; the stream's state is the final one.
    EXPECT_NEAR(s["duration_s"].get<double>(), 1.0, 0.1) << s.dump(2);
    EXPECT_EQ(s["streams"][0]["state"], "stopped");
    EXPECT_LE(s["streams"][0]["decoded"].get<int64_t>(), 40 * 1.1 + 2) << s.dump(2);
    ASSERT_TRUE(s.contains("after_window")) << s.dump(2);
    for (const char* key : {"decoded", "inferred", "dropped", "events"})
        EXPECT_GE(s["after_window"][key].get<int64_t>(), 0) << key;
    EXPECT_GE(s["after_window"]["seconds"].get<double>(), 0.0);
    EXPECT_NE((*p)->summary_text().find("after the window"), std::string::npos);
}

TEST(Pipeline, StreamsCanBeAddedAndRemovedWhileRunning) {
    const fs::path dir = tmp_dir("registry");
    write_file(dir / "det.onnx", brightness_detector());
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: a, uri: synthetic, fps: 20, width: 64, height: 48}
)";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    (*p)->start();
    StreamConfig extra;
    extra.source.name = "b";
    extra.source.uri = "synthetic";
    extra.source.fps = 20;
    extra.source.width = 64;
    extra.source.height = 48;
    ASSERT_TRUE((*p)->add_stream(extra).is_ok());
    EXPECT_FALSE((*p)->add_stream(extra).is_ok()) << "names are unique";
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    ASSERT_TRUE((*p)->remove_stream("a").is_ok());
    EXPECT_FALSE((*p)->remove_stream("a").is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    (*p)->stop();
    const auto s = (*p)->summary()["streams"];
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0]["state"], "stopped");
    EXPECT_GT(s[1]["inferred"].get<int>(), 5) << s[1].dump();
}

TEST(Pipeline, MissingModelOrWrongInputSizeIsAClearError) {
    const fs::path dir = tmp_dir("errors");
    auto missing = make(model_yaml(dir / "none.onnx") + "sources: [{name: a, uri: synthetic}]\n", dir);
    ASSERT_FALSE(missing.is_ok());
    EXPECT_NE(missing.status().message().find("none.onnx"), std::string::npos) << missing.status().message();

    write_file(dir / "fixed.onnx", [] {
        test::ModelBuilder b;
        b.input("x", {"1", "3", "16", "16"});
        b.node("Identity", {"x"}, {"y"});
        b.output("y");
        return b.bytes();
    }());
    auto wrong = make(
        "models: {det: {path: fixed.onnx, input: {width: 32, height: 32}}}\n"
        "sources: [{name: a, uri: synthetic}]\n",
        dir);
    ASSERT_FALSE(wrong.is_ok());
    EXPECT_NE(wrong.status().message().find("[1,3,16,16] but the config asks for 32x32"), std::string::npos)
        << wrong.status().message();
}

// The GPU-resident path (cuda backend: frames preprocessed on the device, the head decoded there) against the CPU
// path on the same clips: the same alarms, and the same per-frame detections away from the cuts (where the
// brightness sits near the threshold and one grey level of preprocessing difference may flip it).
TEST(Pipeline, CudaDetectorGivesTheSameEventsAsCpu) {
    if (!vision::cuda_device_available()) GTEST_SKIP() << "no CUDA device: the GPU-resident path needs one";
    const fs::path dir = tmp_dir("cuda_events");
    write_file(dir / "det.onnx", brightness_detector());
    ASSERT_TRUE(write_blink_clip(dir / "blink.mp4").is_ok());
    const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: "cam{i}", uri: blink.mp4, count: 3, realtime: false, at_end: stop}
rules:
  - {name: light, classes: [bright], min_score: 0.9, debounce: {n: 2, m: 3}}
sinks:
  jsonl: {path: out/events.jsonl, detections: true}
)";
    std::map<std::string, std::vector<nlohmann::json>> events;
    for (const std::string device : {"cpu", "cuda"}) {
        const fs::path run_dir = dir / device;
        fs::create_directories(run_dir);
        fs::copy_file(dir / "blink.mp4", run_dir / "blink.mp4");
        auto c = parse_config(yaml, (run_dir / "p.yaml").string(), run_dir.string());
        ASSERT_TRUE(c.is_ok()) << c.status().message();
        RunOptions o;
        o.console = false;
        o.device = device;
        auto p = Pipeline::create(std::move(*c), o);
        ASSERT_TRUE(p.is_ok()) << device << ": " << p.status().message();
        (*p)->run(30.0);
        const nlohmann::json s = (*p)->summary();
        EXPECT_EQ(s["gpu_resident"], device == "cuda") << s.dump();
        for (const auto& stream : s["streams"]) {
            EXPECT_EQ(stream["inferred"], 30) << device << ": " << stream.dump();
        }
        events[device] = read_jsonl(run_dir / "out/events.jsonl");
    }
    auto key = [](const nlohmann::json& j) {
        return j["type"].get<std::string>() + "/" + j["stream"].get<std::string>() + "/" + j["frame"].dump();
    };
    std::map<std::string, nlohmann::json> cpu;
    for (const auto& j : events["cpu"]) cpu[key(j)] = j;
    ASSERT_EQ(events["cuda"].size(), events["cpu"].size());
    for (const auto& g : events["cuda"]) {
        auto it = cpu.find(key(g));
        ASSERT_NE(it, cpu.end()) << "only on cuda: " << g.dump();
        const nlohmann::json& c = it->second;
        const int index = g["frame"];
        if (g["type"] != "alarm" && (index % 10 == 0 || index % 10 == 9)) continue;
        ASSERT_EQ(g["detections"].size(), c["detections"].size()) << g.dump() << " vs " << c.dump();
        for (size_t d = 0; d < g["detections"].size(); ++d) {
            EXPECT_EQ(g["detections"][d]["class"], c["detections"][d]["class"]) << g.dump();
            for (size_t k = 0; k < 4; ++k) {
                EXPECT_NEAR(g["detections"][d]["box"][k].get<double>(), c["detections"][d]["box"][k].get<double>(), 0.5)
                    << g.dump();
            }
        }
    }
}

// Every picture in a folder of JPEGs, by file name, read back through the image-folder source.
std::map<std::string, media::Frame> read_jpegs(const fs::path& dir) {
    std::map<std::string, media::Frame> out;
    std::vector<fs::path> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path());
    std::sort(names.begin(), names.end());
    media::SourceSpec spec;
    spec.uri = dir.string();
    spec.type = "images";
    spec.realtime = false;
    auto source = media::make_source(spec);
    if (!source.is_ok() || !(*source)->open().is_ok()) return out;
    for (const fs::path& name : names) {
        media::Frame f;
        auto got = (*source)->read(f);
        if (!got.is_ok() || !*got) break;
        out[name.filename().string()] = f;
    }
    return out;
}

double mean_abs_diff(const media::Frame& a, const media::Frame& b) {
    if (a.width != b.width || a.height != b.height || !a.on_host() || !b.on_host()) return 1e9;
    double sum = 0;
    for (int y = 0; y < a.height; ++y)
        for (int x = 0; x < a.width * 3; ++x) sum += std::abs(int{a.row(y)[x]} - int{b.row(y)[x]});
    return sum / (3.0 * a.width * a.height);
}

// A snapshot of an event whose frame is only on the GPU is the snapshot of the same frame on the host: the sink
// fetches the pixels (a host-backed stand-in for the GPU picture here, so this runs everywhere).
TEST(Pipeline, SnapshotsOfGpuFramesAreTheSnapshotsOfTheirPictures) {
    const fs::path dir = tmp_dir("gpu_snapshots");
    media::Frame host;
    host.width = 64;
    host.height = 48;
    host.stride = 64;
    host.format = media::PixelFormat::kNV12;
    host.pixels = std::shared_ptr<uint8_t[]>(new uint8_t[64 * 48 * 3 / 2]);
    for (int i = 0; i < 64 * 48 * 3 / 2; ++i)
        host.pixels[i] = static_cast<uint8_t>(i < 64 * 48 ? 16 + i % 200 : 90 + i % 60);
    const auto surface = media::testing::HostBackedSurface::from(host);
    auto sink = SnapshotSink::open((dir / "snaps").string(), 90);
    ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
    Event e;
    e.rule = "r";
    e.detections.push_back({vision::Detection{{8, 8, 40, 30}, 0.9f, 0}});
    e.labels = {"thing"};
    e.stream = "host";
    e.frame = host;
    (*sink)->on_event(e);
    e.stream = "gpu";
    e.frame = media::testing::device_only_frame(host, surface);
    (*sink)->on_event(e);
    EXPECT_EQ((*sink)->written(), 2);
    EXPECT_EQ(surface->calls(), 1);
    std::ifstream a(dir / "snaps/host_0_r.jpg", std::ios::binary), b(dir / "snaps/gpu_0_r.jpg", std::ios::binary);
    const std::string ja((std::istreambuf_iterator<char>(a)), {}), jb((std::istreambuf_iterator<char>(b)), {});
    EXPECT_FALSE(ja.empty());
    EXPECT_EQ(ja, jb);
}

// NVDEC frames go through the GPU-resident path in place (no download, no upload), next to a host-decoded stream in
// the same batches, and give the events and snapshots that CPU decoding gives.
TEST(Pipeline, NvdecFramesStayOnTheGpuAndGiveTheSameEventsAsCpuDecoding) {
    if (!vision::cuda_device_available()) GTEST_SKIP() << "no CUDA device: NVDEC and the GPU-resident path need one";
    const fs::path dir = tmp_dir("nvdec_events");
    write_file(dir / "det.onnx", brightness_detector());
    ASSERT_TRUE(write_blink_clip(dir / "blink.mp4").is_ok());
    std::map<std::string, std::vector<nlohmann::json>> events;
    std::map<std::string, std::map<std::string, media::Frame>> snapshots;
    for (const std::string decode : {"none", "cuda"}) {
        const fs::path run_dir = dir / decode;
        fs::create_directories(run_dir);
        fs::copy_file(dir / "blink.mp4", run_dir / "blink.mp4");
        const std::string yaml = model_yaml(dir / "det.onnx") + R"(
sources:
  - {name: "gpu{i}", uri: blink.mp4, count: 2, realtime: false, at_end: stop, hw_decode: )" +
                                 decode + R"(}
  - {name: host, uri: blink.mp4, realtime: false, at_end: stop, hw_decode: none}
rules:
  - {name: light, classes: [bright], min_score: 0.9, debounce: {n: 2, m: 3}}
sinks:
  jsonl: {path: out/events.jsonl, detections: true}
  snapshots: {dir: out/snaps}
)";
        auto c = parse_config(yaml, (run_dir / "p.yaml").string(), run_dir.string());
        ASSERT_TRUE(c.is_ok()) << c.status().message();
        RunOptions o;
        o.console = false;
        o.device = "cuda";
        auto p = Pipeline::create(std::move(*c), o);
        ASSERT_TRUE(p.is_ok()) << decode << ": " << p.status().message();
        (*p)->run(30.0);
        const nlohmann::json s = (*p)->summary();
        ASSERT_EQ(s["gpu_resident"], true) << s.dump();
        for (const auto& stream : s["streams"]) EXPECT_EQ(stream["inferred"], 30) << decode << ": " << stream.dump();
        // Frames read in GPU memory as decoded vs uploaded from the host: 2 NVDEC streams and 1 host stream.
        EXPECT_EQ(s["gpu_frames"]["in_place"], decode == "cuda" ? 60 : 0) << s.dump();
        EXPECT_EQ(s["gpu_frames"]["uploaded"], decode == "cuda" ? 30 : 90) << s.dump();
        events[decode] = read_jsonl(run_dir / "out/events.jsonl");
        snapshots[decode] = read_jpegs(run_dir / "out/snaps");
    }
    auto key = [](const nlohmann::json& j) {
        return j["type"].get<std::string>() + "/" + j["stream"].get<std::string>() + "/" + j["frame"].dump();
    };
    std::map<std::string, nlohmann::json> cpu;
    for (const auto& j : events["none"]) cpu[key(j)] = j;
    ASSERT_EQ(events["cuda"].size(), events["none"].size());
    int alarms = 0;
    for (const auto& g : events["cuda"]) {
        auto it = cpu.find(key(g));
        ASSERT_NE(it, cpu.end()) << "only with NVDEC: " << g.dump();
        const nlohmann::json& c = it->second;
        alarms += g["type"] == "alarm";
        ASSERT_EQ(g["detections"].size(), c["detections"].size()) << g.dump() << " vs " << c.dump();
        for (size_t d = 0; d < g["detections"].size(); ++d) {
            EXPECT_EQ(g["detections"][d]["class"], c["detections"][d]["class"]) << g.dump();
            for (size_t k = 0; k < 4; ++k)
                EXPECT_NEAR(g["detections"][d]["box"][k].get<double>(), c["detections"][d]["box"][k].get<double>(), 0.5)
                    << g.dump();
        }
    }
    EXPECT_EQ(alarms, 6) << "two bright stretches on each of three streams";
    // Snapshots of NVDEC frames (downloaded by the sink) show the picture CPU decoding shows.
    ASSERT_EQ(snapshots["cuda"].size(), 6u);
    ASSERT_EQ(snapshots["none"].size(), 6u);
    for (const auto& [name, frame] : snapshots["cuda"]) {
        ASSERT_TRUE(snapshots["none"].contains(name)) << name;
        EXPECT_LT(mean_abs_diff(frame, snapshots["none"][name]), 2.0) << name;
        EXPECT_GT(frame.row(5)[3 * 300], 240) << name << ": a white frame, away from the box";
    }
}

// A camera on a real RTSP server (GStreamer's, tests/media/rtsp_server.py) that dies mid-stream: the stream goes to
// `reconnecting` within its timeout while the other stream keeps running, and comes back once a server listens on the
// same port again.
TEST(Pipeline, RtspCameraWhoseServerDiesReconnectsWhileTheOthersRun) {
    if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0) GTEST_SKIP() << "no ffmpeg CLI to make the test clip";
    SKIP_WITHOUT_RTSP_SERVER();
    const fs::path dir = tmp_dir("rtsp");
    write_file(dir / "det.onnx", brightness_detector());
    // 60 s at 10 fps, small: each RTSP session plays it from the start, longer than the test runs.
    ffmpeg("-f lavfi -i testsrc2=s=160x120:r=10:d=60 -c:v libx264 -preset ultrafast -g 10 -bf 0 -pix_fmt yuv420p " +
           (dir / "cam.mp4").string());
    media::testing::RtspTestServer server((dir / "cam.mp4").string(), "cam");
    ASSERT_TRUE(server.running()) << server.error();
    constexpr int kTimeoutMs = 3000;
    const std::string yaml = model_yaml(dir / "det.onnx") + "sources:\n  - {name: cam, uri: \"" + server.url() +
                             "\", transport: tcp, timeout_ms: " + std::to_string(kTimeoutMs) +
                             ", reconnect: {initial_ms: 100, max_ms: 500}}\n"
                             "  - {name: other, uri: synthetic, fps: 20, width: 64, height: 48}\n";
    auto p = make(yaml, dir);
    ASSERT_TRUE(p.is_ok()) << p.status().message();
    Pipeline& pipeline = **p;

    // Polls the summary until `done` holds for the streams (cam, other) or `seconds` pass.
    using Json = nlohmann::json;
    const auto wait_for = [&](double seconds, const std::function<bool(const Json&, const Json&)>& done) {
        const auto give_up = Clock::now() + std::chrono::duration<double>(seconds);
        for (;;) {
            const Json s = pipeline.summary()["streams"];
            if (done(s[0], s[1])) return s;
            if (Clock::now() > give_up) return s;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    };
    const auto decoded = [](const Json& s) { return s["decoded"].get<int64_t>(); };

    pipeline.start();
    Json s = wait_for(60, [&](const Json& cam, const Json&) { return decoded(cam) >= 10; });
    ASSERT_GE(decoded(s[0]), 10) << "no frames from the RTSP server: " << s.dump();
    ASSERT_EQ(s[0]["state"], "running") << s.dump();

    server.kill_now();
    const auto killed = Clock::now();
    s = wait_for(kTimeoutMs / 1000.0 + 10, [](const Json& cam, const Json&) { return cam["state"] == "reconnecting"; });
    const double to_reconnecting = std::chrono::duration<double>(Clock::now() - killed).count();
    ASSERT_EQ(s[0]["state"], "reconnecting") << s.dump();
    EXPECT_LT(to_reconnecting, kTimeoutMs / 1000.0 + 3.0) << s.dump();
    EXPECT_NE(s[0]["last_error"].get<std::string>().find(server.url()), std::string::npos) << s.dump();
    const std::string error_when_killed = s[0]["last_error"];

    // While the camera is gone, the other stream runs on; the camera keeps failing (connection refused).
    const int64_t other_before = decoded(s[1]);
    s = wait_for(30, [&](const Json& cam, const Json& other) {
        return cam["reconnects"].get<int>() >= 2 && decoded(other) >= other_before + 10;
    });
    EXPECT_GE(s[0]["reconnects"].get<int>(), 2) << s.dump();
    EXPECT_GE(decoded(s[1]), other_before + 10) << s.dump();
    EXPECT_EQ(s[1]["state"], "running") << s.dump();
    EXPECT_EQ(s[0]["state"], "reconnecting") << s.dump();

    // The server comes back on the same port: the camera delivers frames again.
    ASSERT_TRUE(server.start()) << server.error();
    const int64_t cam_before = decoded(s[0]);
    const int64_t cam_inferred_before = s[0]["inferred"].get<int64_t>();
    // Inferred, too: a session's first second comes in a burst (buffered while FFmpeg probes the stream), of which a
    // live stream's queue keeps only the latest frames.
    const auto resumed = [&](const Json& cam) {
        return cam["state"] == "running" && decoded(cam) >= cam_before + 10 &&
               cam["inferred"].get<int64_t>() >= cam_inferred_before + 5;
    };
    s = wait_for(60, [&](const Json& cam, const Json&) { return resumed(cam); });
    EXPECT_TRUE(resumed(s[0])) << s.dump();
    EXPECT_EQ(s[1]["state"], "running") << s.dump();
    pipeline.stop();

    s = pipeline.summary()["streams"];
    EXPECT_GT(s[1]["inferred"].get<int64_t>(), 20) << s.dump();
    EXPECT_EQ(pipeline.summary()["inference_errors"], 0);
    std::printf("rtsp camera: reconnecting %.2f s after its server died (%s); %d reconnects; %lld frames in all\n",
                to_reconnecting, error_when_killed.c_str(), s[0]["reconnects"].get<int>(),
                static_cast<long long>(decoded(s[0])));
}

}  // namespace
}  // namespace fovea::pipeline
