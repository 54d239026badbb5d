// The generator: same seed, same pixels and truth; truth boxes sit on the drawn parts; files that FFmpeg reads back.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "media/source.h"
#include "synth/scene.h"

namespace fovea::synth {
namespace {

namespace fs = std::filesystem;

SynthOptions small_options() {
    SynthOptions o;
    o.width = 640;
    o.height = 360;
    o.fps = 10;
    o.duration_s = 3;
    o.defect_rate = 0.6;
    o.streams = 4;
    o.seed = 7;
    return o;
}

std::unique_ptr<Scene> scene(const SynthOptions& o, int stream) {
    auto s = Scene::create(o, stream);
    EXPECT_TRUE(s.is_ok()) << s.status().message();
    return std::move(s).value();
}

bool same_pixels(const media::Frame& a, const media::Frame& b) {
    return a.width == b.width && a.height == b.height &&
           std::memcmp(a.pixels.get(), b.pixels.get(), static_cast<size_t>(a.stride) * a.height) == 0;
}

TEST(Synth, same_seed_renders_identical_truth_and_pixels) {
    const SynthOptions o = small_options();
    for (int stream = 0; stream < o.streams; ++stream) {
        auto a = scene(o, stream), b = scene(o, stream);
        media::Frame fa, fb;
        // b renders a later frame first: a frame is a function of its index, not of what was drawn before.
        b->render(17, fb);
        for (int64_t i : {0, 5, 17}) {
            const FrameTruth ta = a->render(i, fa), tb = b->render(i, fb);
            EXPECT_EQ(to_json(ta), to_json(tb)) << "stream " << stream << " frame " << i;
            EXPECT_TRUE(same_pixels(fa, fb)) << "stream " << stream << " frame " << i;
        }
        EXPECT_EQ(a->parts_json(), b->parts_json());
    }
}

TEST(Synth, different_seeds_render_different_scenes) {
    SynthOptions o = small_options();
    auto a = scene(o, 0);
    o.seed = 8;
    auto b = scene(o, 0);
    media::Frame fa, fb;
    a->render(0, fa);
    b->render(0, fb);
    EXPECT_FALSE(same_pixels(fa, fb));
    EXPECT_NE(a->parts_json(), b->parts_json());
}

// Mean over the pixels of `box` of B + G + R.
double mean_brightness(const media::Frame& f, const BoxI& box) {
    double sum = 0;
    for (int y = box.y1; y < box.y2; ++y)
        for (int x = box.x1; x < box.x2; ++x) {
            const uint8_t* p = f.row(y) + 3 * x;
            sum += p[0] + p[1] + p[2];
        }
    return sum / std::max(1, box.area());
}

TEST(Synth, truth_boxes_lie_inside_the_frame_and_on_the_drawn_part) {
    SynthOptions o = small_options();
    o.lighting = Lighting::kBright;  // metal is bright, the belt dark: colours tell part from belt
    int parts_checked = 0, defects_checked = 0;
    for (int stream = 0; stream < o.streams; ++stream) {
        auto s = scene(o, stream);
        media::Frame f;
        for (int64_t i = 0; i < s->frame_count(); i += 7) {
            const FrameTruth t = s->render(i, f);
            for (const PartTruth& p : t.parts) {
                ASSERT_FALSE(p.box.empty());
                EXPECT_GE(p.box.x1, 0);
                EXPECT_GE(p.box.y1, 0);
                EXPECT_LE(p.box.x2, o.width);
                EXPECT_LE(p.box.y2, o.height);
                // The box is tight: each edge row/column holds part pixels, the ring just outside holds belt.
                if (p.fully_in_view && p.box.x1 > 2 && p.box.x2 < o.width - 2) {
                    ++parts_checked;
                    // Column x1 may be an anti-aliased edge: look one pixel in, and two out (belt and rails < 350).
                    const BoxI left{p.box.x1 + 1, p.box.y1, p.box.x1 + 2, p.box.y2};
                    const BoxI outside{p.box.x1 - 2, p.box.y1, p.box.x1 - 1, p.box.y2};
                    double max_edge = 0, max_out = 0;
                    for (int y = left.y1; y < left.y2; ++y) {
                        max_edge = std::max(max_edge, mean_brightness(f, {left.x1, y, left.x2, y + 1}));
                        max_out = std::max(max_out, mean_brightness(f, {outside.x1, y, outside.x2, y + 1}));
                    }
                    EXPECT_GT(max_edge, 350.0) << "no metal on the left edge of part " << p.id;
                    EXPECT_LT(max_out, 350.0) << "metal left of the box of part " << p.id;
                }
                for (const DefectTruth& d : p.defects) {
                    EXPECT_GE(d.box.x1, p.box.x1);
                    EXPECT_GE(d.box.y1, p.box.y1);
                    EXPECT_LE(d.box.x2, p.box.x2);
                    EXPECT_LE(d.box.y2, p.box.y2);
                    if (d.cls == DefectClass::kMissingTooth || d.cls == DefectClass::kDent) continue;
                    // Scratches and cracks are dark ink on bright metal: their box holds pixels darker than metal.
                    double darkest = 1e9;
                    for (int y = d.box.y1; y < d.box.y2; ++y)
                        for (int x = d.box.x1; x < d.box.x2; ++x)
                            darkest = std::min(darkest, mean_brightness(f, {x, y, x + 1, y + 1}));
                    EXPECT_LT(darkest, 3 * 75.0) << defect_class_name(d.cls) << " of part " << p.id;
                    ++defects_checked;
                }
                if (!p.label_box.empty() && p.fully_in_view) {
                    // The label is light, with dark text on it.
                    EXPECT_GT(mean_brightness(f, p.label_box), 3 * 150.0);
                }
            }
        }
    }
    EXPECT_GT(parts_checked, 5);
    EXPECT_GT(defects_checked, 2);
}

TEST(Synth, serials_follow_the_format_and_differ_between_parts) {
    const SynthOptions o = small_options();
    const std::regex format("^SN-[0-9]{4}-[A-HJ-NP-Z]{2}$");
    std::set<std::string> seen;
    size_t parts = 0;
    for (int stream = 0; stream < o.streams; ++stream) {
        for (const auto& p : scene(o, stream)->parts_json()) {
            const std::string serial = p["serial"];
            EXPECT_TRUE(std::regex_match(serial, format)) << serial;
            EXPECT_TRUE(is_valid_serial(serial)) << serial;
            seen.insert(serial);
            ++parts;
        }
    }
    EXPECT_GT(parts, 8u);
    EXPECT_GE(seen.size() + 1, parts);  // 10^4 * 24^2 serials: a repeat among a few dozen is (nearly) impossible
    EXPECT_FALSE(is_valid_serial("SN-12A4-KX"));
    EXPECT_FALSE(is_valid_serial("SN-1234-KO"));
    EXPECT_FALSE(is_valid_serial("SN-1234-K"));
}

TEST(Synth, defect_rate_zero_gives_no_defects_and_one_marks_every_part) {
    SynthOptions o = small_options();
    o.defect_rate = 0;
    for (const auto& p : scene(o, 0)->parts_json()) EXPECT_FALSE(p["defective"].get<bool>());
    o.defect_rate = 1;
    for (const auto& p : scene(o, 0)->parts_json()) EXPECT_TRUE(p["defective"].get<bool>()) << p.dump();
}

TEST(Synth, dim_lighting_darkens_the_same_scene) {
    SynthOptions o = small_options();
    o.lighting = Lighting::kBright;
    media::Frame bright, dim;
    scene(o, 0)->render(3, bright);
    o.lighting = Lighting::kDim;
    scene(o, 0)->render(3, dim);
    const BoxI all{0, 0, o.width, o.height};
    EXPECT_LT(mean_brightness(dim, all), 0.45 * mean_brightness(bright, all));
}

// A shadow band: the darkest strip of the frame, against the brightest, is far darker than in the same scene in
// plain bright light.
TEST(Synth, shadow_lighting_crosses_the_belt_with_a_dark_band) {
    SynthOptions o = small_options();
    auto darkest_over_brightest = [&](Lighting l) {
        o.lighting = l;
        media::Frame f;
        scene(o, 0)->render(3, f);
        const int strip = o.width / 16;
        double lo = 1e9, hi = 0;
        for (int x = 0; x + strip <= o.width; x += strip) {
            const double m = mean_brightness(f, BoxI{x, 0, x + strip, o.height});
            lo = std::min(lo, m);
            hi = std::max(hi, m);
        }
        return lo / hi;
    };
    EXPECT_LT(darkest_over_brightest(Lighting::kShadow), 0.3 * darkest_over_brightest(Lighting::kBright));
    EXPECT_EQ(parse_lighting("shadow").value(), Lighting::kShadow);
}

TEST(Synth, bad_options_name_the_option) {
    SynthOptions o = small_options();
    o.width = 641;
    auto s = Scene::create(o, 0);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.status().message().find("even"), std::string::npos) << s.status().message();
    o = small_options();
    o.defect_rate = 1.5;
    EXPECT_NE(Scene::create(o, 0).status().message().find("defect rate"), std::string::npos);
    EXPECT_FALSE(parse_lighting("sunny").is_ok());
}

TEST(Synth, generate_writes_videos_ffmpeg_reads_back_with_a_truth_per_frame) {
    const fs::path dir = fs::path(FOVEA_TEST_TMP) / "generate";
    fs::remove_all(dir);
    SynthOptions o = small_options();
    o.streams = 2;
    o.duration_s = 1;
    o.noise = 3;
    o.motion_blur = true;
    ASSERT_TRUE(generate(o, dir.string()).is_ok());
    const auto manifest = nlohmann::json::parse(std::ifstream(dir / "manifest.json"));
    ASSERT_EQ(manifest["streams"].size(), 2u);
    for (const auto& s : manifest["streams"]) {
        const auto truth = nlohmann::json::parse(std::ifstream(dir / s["truth"].get<std::string>()));
        EXPECT_EQ(truth["frames"].size(), 10u);
        media::SourceSpec spec;
        spec.uri = (dir / s["video"].get<std::string>()).string();
        spec.realtime = false;
        auto src = media::make_source(spec);
        ASSERT_TRUE(src.is_ok());
        ASSERT_TRUE((*src)->open().is_ok());
        media::Frame f;
        int frames = 0;
        while (true) {
            auto r = (*src)->read(f);
            ASSERT_TRUE(r.is_ok()) << r.status().message();
            if (!*r) break;
            EXPECT_EQ(f.width, 640);
            ++frames;
        }
        EXPECT_EQ(frames, 10);
    }
}

}  // namespace
}  // namespace fovea::synth
