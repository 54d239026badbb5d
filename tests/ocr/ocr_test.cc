// `fovea ocr` and the TextReader behind it: PP-OCRv4 on images whose text is known, `fovea synth` frames (serial
// labels with ground truth) and text drawn with OpenCV, through the library and through the CLI; and the CLI's
// errors. The reading tests skip (visibly) when the cache lacks the PP-OCRv4 files (`make models`).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "media/encode.h"
#include "media/source.h"
#include "pipeline/ocr.h"
#include "synth/scene.h"

namespace fovea::pipeline {
namespace {

namespace fs = std::filesystem;

bool models_present() {
    const fs::path dir = ppocr_model_dir();
    return fs::exists(dir / "det.onnx") && fs::exists(dir / "rec.onnx") && fs::exists(dir / "ppocr_keys_v1.txt");
}

#define SKIP_WITHOUT_MODELS() \
    if (!models_present())    \
    GTEST_SKIP() << "no PP-OCRv4 models in " << ppocr_model_dir() << " (make models, i.e. scripts/fetch-models.sh)"

// One folder per test process: ctest runs the tests of this file in parallel.
fs::path tmp_dir() {
    const fs::path dir = fs::path(FOVEA_TEST_TMP) / ("ocr_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir;
}

TextReader& reader() {
    static std::unique_ptr<TextReader> r = [] {
        auto loaded = TextReader::load({});
        EXPECT_TRUE(loaded.is_ok()) << loaded.status().message();
        return loaded.is_ok() ? std::move(*loaded) : nullptr;
    }();
    return *r;
}

// Frames of `fovea synth` footage at 720p, bright light, with the truth of the labels wholly in the picture.
struct SynthFrame {
    media::Frame frame;
    std::vector<synth::PartTruth> labelled;  // parts whose label is fully in view
};
std::vector<SynthFrame> synth_frames() {
    synth::SynthOptions o;
    o.streams = 2;
    o.duration_s = 4;
    o.seed = 31;
    o.lighting = synth::Lighting::kBright;
    std::vector<SynthFrame> out;
    for (int stream = 0; stream < o.streams; ++stream) {
        auto scene = synth::Scene::create(o, stream);
        EXPECT_TRUE(scene.is_ok()) << scene.status().message();
        if (!scene.is_ok()) return out;
        for (int64_t i : {10, 40}) {
            SynthFrame f;
            const synth::FrameTruth t = (*scene)->render(i, f.frame);
            for (const synth::PartTruth& p : t.parts)
                if (p.fully_in_view && !p.label_box.empty() && p.label_box.x1 > 0 && p.label_box.x2 < o.width)
                    f.labelled.push_back(p);
            out.push_back(std::move(f));
        }
    }
    return out;
}

bool box_centre_in(const std::array<float, 8>& q, const synth::BoxI& b) {
    const float cx = (q[0] + q[2] + q[4] + q[6]) / 4, cy = (q[1] + q[3] + q[5] + q[7]) / 4;
    return cx >= b.x1 && cx <= b.x2 && cy >= b.y1 && cy <= b.y2;
}

TEST(Ocr, reads_every_serial_label_of_synth_frames_exactly) {
    SKIP_WITHOUT_MODELS();
    int labels = 0;
    for (const SynthFrame& f : synth_frames()) {
        auto texts = reader().read(f.frame);
        ASSERT_TRUE(texts.is_ok()) << texts.status().message();
        for (const synth::PartTruth& p : f.labelled) {
            ++labels;
            bool found = false;
            for (const OcrText& t : *texts) found = found || (t.text == p.serial && box_centre_in(t.box, p.label_box));
            EXPECT_TRUE(found) << "serial " << p.serial << " not read on its label";
        }
        // Nothing but serials: the parts carry no other text.
        for (const OcrText& t : *texts) EXPECT_TRUE(synth::is_valid_serial(t.text)) << "read '" << t.text << "'";
    }
    EXPECT_GE(labels, 6);
}

media::Frame frame_of(const cv::Mat& img) {
    media::Frame f = media::make_bgr_frame(img.cols, img.rows);
    img.copyTo(cv::Mat(f.height, f.width, CV_8UC3, f.pixels.get(), static_cast<size_t>(f.stride)));
    return f;
}

// White canvas, black Hershey text (what the synth labels use too).
cv::Mat canvas(const std::vector<std::pair<std::string, cv::Point>>& lines) {
    cv::Mat img(360, 640, CV_8UC3, cv::Scalar(255, 255, 255));
    for (const auto& [text, at] : lines)
        cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, 1.2, cv::Scalar(0, 0, 0), 2, cv::LINE_AA);
    return img;
}

std::vector<std::string> texts_of(const std::vector<OcrText>& v) {
    std::vector<std::string> out;
    for (const OcrText& t : v) out.push_back(t.text);
    return out;
}

TEST(Ocr, reads_lines_in_reading_order) {
    SKIP_WITHOUT_MODELS();
    // Drawn out of order: the right-hand text of the first line first, the second line's before the first's.
    const media::Frame f = frame_of(canvas(
        {{"QX-7310-PW", {360, 100}}, {"fovea", {40, 240}}, {"SN-4821-KX", {40, 100}}, {"B52-0017", {360, 245}}}));
    auto texts = reader().read(f);
    ASSERT_TRUE(texts.is_ok()) << texts.status().message();
    EXPECT_EQ(texts_of(*texts), (std::vector<std::string>{"SN-4821-KX", "QX-7310-PW", "fovea", "B52-0017"}));
    for (const OcrText& t : *texts) {
        EXPECT_GT(t.score, 0.8f) << t.text;
        EXPECT_GT(t.box_score, 0.6f) << t.text;
    }
}

TEST(Ocr, reads_rotated_and_vertical_text) {
    SKIP_WITHOUT_MODELS();
    const cv::Mat img = canvas({{"SN-5043-ET", {180, 200}}});
    // Tilted by 12 degrees: a rotated quad, cropped by a perspective warp.
    cv::Mat tilted;
    cv::warpAffine(img, tilted, cv::getRotationMatrix2D(cv::Point2f(320, 180), 12, 1.0), img.size(), cv::INTER_LINEAR,
                   cv::BORDER_CONSTANT, cv::Scalar(255, 255, 255));
    auto a = reader().read(frame_of(tilted));
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    EXPECT_EQ(texts_of(*a), std::vector<std::string>{"SN-5043-ET"});
    if (!a->empty()) {
        EXPECT_GT(std::abs((*a)[0].box[1] - (*a)[0].box[3]), 20.0f);  // the box follows the slant
    }
    // Turned a quarter clockwise, reading top to bottom: the tall crop is turned back.
    cv::Mat vertical;
    cv::rotate(img, vertical, cv::ROTATE_90_CLOCKWISE);
    auto b = reader().read(frame_of(vertical));
    ASSERT_TRUE(b.is_ok()) << b.status().message();
    EXPECT_EQ(texts_of(*b), std::vector<std::string>{"SN-5043-ET"});
}

TEST(Ocr, a_blank_image_has_no_text) {
    SKIP_WITHOUT_MODELS();
    auto texts = reader().read(frame_of(canvas({})));
    ASSERT_TRUE(texts.is_ok()) << texts.status().message();
    EXPECT_TRUE(texts->empty());
}

// ---- The CLI ----

struct CliRun {
    int code = -1;
    std::string out, err;
};
CliRun run_cli(const std::string& args) {
    const fs::path dir = tmp_dir();
    const std::string out = (dir / "stdout").string(), err = (dir / "stderr").string();
    const int status = std::system((std::string(FOVEA_CLI) + " " + args + " >" + out + " 2>" + err).c_str());
    CliRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::stringstream o, e;
    o << std::ifstream(out).rdbuf();
    e << std::ifstream(err).rdbuf();
    r.out = o.str(), r.err = e.str();
    return r;
}

std::vector<std::vector<std::string>> tab_rows(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> cells;
        std::stringstream cs(line);
        for (std::string cell; std::getline(cs, cell, '\t');) cells.push_back(cell);
        rows.push_back(cells);
    }
    return rows;
}

TEST(OcrCli, prints_the_serials_of_a_synth_frame_as_lines_and_as_json) {
    SKIP_WITHOUT_MODELS();
    const std::vector<SynthFrame> frames = synth_frames();
    ASSERT_GE(frames.size(), 2u);
    const fs::path a = tmp_dir() / "a.jpg", b = tmp_dir() / "b.jpg", drawn = tmp_dir() / "drawn.jpg";
    ASSERT_TRUE(media::write_jpeg(a.string(), frames[0].frame, 95).is_ok());
    ASSERT_TRUE(media::write_jpeg(b.string(), frames[1].frame, 95).is_ok());
    std::set<std::string> want_a;
    for (const synth::PartTruth& p : frames[0].labelled) want_a.insert(p.serial);
    ASSERT_FALSE(want_a.empty());

    // One image: box, score, text per line.
    const CliRun plain = run_cli("ocr " + a.string() + " --draw " + drawn.string());
    ASSERT_EQ(plain.code, 0) << plain.err;
    std::set<std::string> got;
    for (const auto& row : tab_rows(plain.out)) {
        ASSERT_EQ(row.size(), 3u) << plain.out;
        int x[4], y[4];
        EXPECT_EQ(std::sscanf(row[0].c_str(), "%d,%d %d,%d %d,%d %d,%d", &x[0], &y[0], &x[1], &y[1], &x[2], &y[2],
                              &x[3], &y[3]),
                  8)
            << row[0];
        EXPECT_GE(std::stod(row[1]), 0.5);
        got.insert(row[2]);
    }
    for (const std::string& s : want_a) EXPECT_TRUE(got.count(s)) << s << " missing from:\n" << plain.out;
    auto picture = media::read_image(drawn.string());
    ASSERT_TRUE(picture.is_ok()) << picture.status().message();
    EXPECT_EQ(picture->width, frames[0].frame.width);

    // JSON over two images: the same texts for the first, each object naming its image.
    const CliRun json = run_cli("ocr --json " + a.string() + " " + b.string());
    ASSERT_EQ(json.code, 0) << json.err;
    const nlohmann::json arr = nlohmann::json::parse(json.out);
    ASSERT_TRUE(arr.is_array());
    std::set<std::string> got_a;
    size_t from_b = 0;
    for (const auto& item : arr) {
        ASSERT_EQ(item["box"].size(), 4u);
        EXPECT_GE(item["score"].get<double>(), 0.5);
        EXPECT_GE(item["box_score"].get<double>(), 0.0);
        if (item["image"] == a.string()) got_a.insert(item["text"].get<std::string>());
        if (item["image"] == b.string()) ++from_b;
    }
    EXPECT_EQ(got_a, got);
    EXPECT_EQ(from_b, frames[1].labelled.size());

    // Several images as lines: the image comes first.
    const CliRun two = run_cli("ocr " + a.string() + " " + b.string());
    ASSERT_EQ(two.code, 0) << two.err;
    for (const auto& row : tab_rows(two.out)) {
        ASSERT_EQ(row.size(), 4u) << two.out;
        EXPECT_TRUE(row[0] == a.string() || row[0] == b.string()) << row[0];
    }
}

// Errors need no models: images are read first. One line on stderr, exit code 1.
void expect_error(const CliRun& r, const std::string& fragment) {
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind("fovea: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(OcrCli, a_missing_image_is_a_clear_error) {
    const fs::path missing = tmp_dir() / "no_such_image.jpg";
    expect_error(run_cli("ocr " + missing.string()), missing.string() + ": cannot open: No such file or directory");
}

TEST(OcrCli, a_file_that_is_no_image_is_a_clear_error) {
    const fs::path text = tmp_dir() / "notes.png";
    std::ofstream(text) << "serial numbers:\nSN-4821-KX\n";
    expect_error(run_cli("ocr " + text.string()), text.string() + ": not an image");

    // A video decodes, but it is not a still image.
    const fs::path video = tmp_dir() / "clip.mp4";
    {
        auto w = media::VideoWriter::open(video.string(), 64, 48, 10);
        ASSERT_TRUE(w.is_ok()) << w.status().message();
        const media::Frame black = media::make_bgr_frame(64, 48);
        for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->write(black).is_ok());
        ASSERT_TRUE((*w)->close().is_ok());
    }
    expect_error(run_cli("ocr " + video.string()), video.string() + ": not an image (FFmpeg reads it as 'mov");

    // The good image next to a bad one still fails, before any output.
    const fs::path good = tmp_dir() / "good.jpg";
    ASSERT_TRUE(media::write_jpeg(good.string(), media::make_bgr_frame(64, 48)).is_ok());
    expect_error(run_cli("ocr " + good.string() + " " + text.string()), "not an image");
}

TEST(OcrCli, a_missing_model_names_its_path_and_how_to_fetch_it) {
    const fs::path good = tmp_dir() / "blank.jpg";
    ASSERT_TRUE(media::write_jpeg(good.string(), media::make_bgr_frame(64, 48)).is_ok());
    const fs::path det = tmp_dir() / "nowhere" / "det.onnx";
    expect_error(run_cli("ocr " + good.string() + " --det " + det.string()), det.string() + " is missing");
    expect_error(run_cli("ocr " + good.string() + " --det " + det.string()), "make models");
}

}  // namespace
}  // namespace fovea::pipeline
