#include "synth/scene.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>

#include "media/encode.h"

namespace fovea::synth {
namespace {

constexpr double kPi = std::numbers::pi;
// Written into the truth and manifest files; raised whenever the drawing changes, since footage (and detectors trained
// on it) from another version are not comparable. 2: cracks fork, scratches have a lit wall, a missing tooth's box
// is the gap it leaves.
constexpr int kDrawingVersion = 2;

// splitmix64: our own generator and distributions, so that a seed draws the same scene with any standard library
// (std::uniform_*_distribution differ between implementations).
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    int integer(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
    bool chance(double p) { return uniform() < p; }

  private:
    uint64_t state_;
};

uint64_t mix(uint64_t a, uint64_t b) {
    return Rng(a * 0x2545f4914f6cdd1dULL ^ (b + 0x632be59bd9b4e019ULL)).next();
}

struct DefectSpec {
    DefectClass cls;
    int tooth = -1;  // missing tooth: which one
};

// What a part is, decided when the scene is laid out; the sprite is drawn from it on demand.
struct PartSpec {
    int id = 0;
    PartClass cls = PartClass::kGear;
    std::string serial;
    int size = 0;    // nominal extent in pixels (gear diameter, plate width, bracket width)
    int canvas = 0;  // the sprite's square side, margins and blur included
    int64_t x0 = 0;  // sprite's left edge in frame 0; it moves right by `speed` pixels a frame
    int y = 0;       // sprite's top edge
    uint64_t seed = 0;
    std::vector<DefectSpec> defects;
};

struct Sprite {
    cv::Mat premul;  // BGR premultiplied by alpha
    cv::Mat alpha;
    BoxI body, label;
    std::vector<DefectTruth> defects;  // sprite coordinates
};

// Polygons go to OpenCV in fixed point (4 fractional bits) so that sub-pixel geometry survives.
constexpr int kShift = 4;
cv::Point fixed(cv::Point2d p) {
    return {static_cast<int>(std::lround(p.x * (1 << kShift))), static_cast<int>(std::lround(p.y * (1 << kShift)))};
}
std::vector<cv::Point> fixed(const std::vector<cv::Point2d>& pts) {
    std::vector<cv::Point> out;
    out.reserve(pts.size());
    for (const auto& p : pts) out.push_back(fixed(p));
    return out;
}
void fill_poly(cv::Mat& img, const std::vector<cv::Point2d>& pts, const cv::Scalar& color, int line_type) {
    const std::vector<std::vector<cv::Point>> polys{fixed(pts)};
    cv::fillPoly(img, polys, color, line_type, kShift);
}
void fill_circle(cv::Mat& img, cv::Point2d c, double r, const cv::Scalar& color, int line_type) {
    cv::circle(img, fixed(c), static_cast<int>(std::lround(r * (1 << kShift))), color, cv::FILLED, line_type, kShift);
}

BoxI mask_box(const cv::Mat& mask) {
    const cv::Rect r = cv::boundingRect(mask);
    return {r.x, r.y, r.x + r.width, r.y + r.height};
}

BoxI clip(BoxI b, int w, int h) {
    b.x1 = std::clamp(b.x1, 0, w);
    b.x2 = std::clamp(b.x2, 0, w);
    b.y1 = std::clamp(b.y1, 0, h);
    b.y2 = std::clamp(b.y2, 0, h);
    if (b.empty()) return {};
    return b;
}

BoxI shift(BoxI b, int64_t dx, int dy) {
    if (b.empty()) return b;
    const int x = static_cast<int>(dx);
    return {b.x1 + x, b.y1 + dy, b.x2 + x, b.y2 + dy};
}

constexpr char kSerialLetters[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";  // no I, no O

std::string make_serial(Rng& rng) {
    std::string s = "SN-";
    for (int i = 0; i < 4; ++i) s += static_cast<char>('0' + rng.integer(0, 9));
    s += '-';
    for (int i = 0; i < 2; ++i) s += kSerialLetters[rng.integer(0, static_cast<int>(sizeof(kSerialLetters)) - 2)];
    return s;
}

// A gear's outline: `teeth` trapezoids on a root circle; missing teeth follow the root circle instead.
struct GearGeometry {
    cv::Point2d c;
    double outer, root, phase;
    int teeth;
    double pitch() const { return 2 * kPi / teeth; }
    cv::Point2d at(double r, double a) const { return {c.x + r * std::cos(a), c.y + r * std::sin(a)}; }
    std::vector<cv::Point2d> tooth(int k) const {
        const double a = phase + k * pitch(), wr = 0.28 * pitch(), wt = 0.18 * pitch();
        return {at(root - 1, a - wr), at(outer, a - wt), at(outer, a + wt), at(root - 1, a + wr)};
    }
    // What a missing tooth leaves: the empty space between its two neighbours, root to tip. That is what a camera
    // sees; the lost tooth's own outline has no visible edge, so it would make an unlearnable box.
    std::vector<cv::Point2d> gap(int k) const {
        const double a = phase + k * pitch(), wr = 0.28 * pitch(), wt = 0.18 * pitch();
        return {at(root - 1, a - pitch() + wr), at(outer, a - pitch() + wt), at(outer, a + pitch() - wt),
                at(root - 1, a + pitch() - wr)};
    }
    std::vector<cv::Point2d> outline(const std::vector<int>& missing) const {
        std::vector<cv::Point2d> pts;
        for (int k = 0; k < teeth; ++k) {
            const double a = phase + k * pitch();
            if (std::find(missing.begin(), missing.end(), k) == missing.end()) {
                for (const auto& p : tooth(k)) pts.push_back(p);
            } else {
                for (int i = -2; i <= 2; ++i) pts.push_back(at(root, a + i * 0.14 * pitch()));
            }
            for (int i = 1; i <= 3; ++i) pts.push_back(at(root, a + (0.28 + i * 0.11) * pitch()));
        }
        return pts;
    }
};

std::vector<cv::Point2d> transform(const std::vector<cv::Point2d>& pts, cv::Point2d c, double angle, bool flip) {
    std::vector<cv::Point2d> out;
    const double ca = std::cos(angle), sa = std::sin(angle);
    for (auto p : pts) {
        if (flip) p.x = -p.x;
        out.push_back({c.x + p.x * ca - p.y * sa, c.y + p.x * sa + p.y * ca});
    }
    return out;
}

}  // namespace

const char* part_class_name(PartClass c) {
    switch (c) {
        case PartClass::kGear:
            return "gear";
        case PartClass::kPlate:
            return "plate";
        case PartClass::kBracket:
            return "bracket";
    }
    return "?";
}

const char* defect_class_name(DefectClass c) {
    switch (c) {
        case DefectClass::kScratch:
            return "scratch";
        case DefectClass::kDent:
            return "dent";
        case DefectClass::kCrack:
            return "crack";
        case DefectClass::kMissingTooth:
            return "missing_tooth";
    }
    return "?";
}

const char* lighting_name(Lighting l) {
    switch (l) {
        case Lighting::kBright:
            return "bright";
        case Lighting::kDim:
            return "dim";
        case Lighting::kUneven:
            return "uneven";
        case Lighting::kFlicker:
            return "flicker";
        case Lighting::kMixed:
            return "mixed";
        case Lighting::kShadow:
            return "shadow";
    }
    return "?";
}

Result<Lighting> parse_lighting(const std::string& name) {
    for (Lighting l : {Lighting::kBright, Lighting::kDim, Lighting::kUneven, Lighting::kFlicker, Lighting::kMixed,
                       Lighting::kShadow})
        if (name == lighting_name(l)) return l;
    return invalid_argument("synth: unknown lighting profile '" + name +
                            "' (expected bright, dim, uneven, flicker, mixed or shadow)");
}

const std::vector<std::string>& class_names() {
    static const std::vector<std::string> names{"gear", "plate", "bracket",       "scratch",
                                                "dent", "crack", "missing_tooth", "label"};
    return names;
}

bool is_valid_serial(const std::string& s) {
    if (s.size() != 10 || s.compare(0, 3, "SN-") != 0 || s[7] != '-') return false;
    for (int i = 3; i < 7; ++i)
        if (s[static_cast<size_t>(i)] < '0' || s[static_cast<size_t>(i)] > '9') return false;
    for (int i = 8; i < 10; ++i) {
        const char c = s[static_cast<size_t>(i)];
        if (c < 'A' || c > 'Z' || c == 'I' || c == 'O') return false;
    }
    return true;
}

Status SynthOptions::validate() const {
    if (width < 64 || height < 64 || width % 2 || height % 2 || width > 7680 || height > 4320)
        return invalid_argument("synth: frame size must be even and between 64x64 and 7680x4320, got " +
                                std::to_string(width) + "x" + std::to_string(height));
    if (!(fps > 0 && fps <= 240)) return invalid_argument("synth: fps must be in (0, 240], got " + std::to_string(fps));
    if (!(duration_s > 0 && duration_s <= 86400))
        return invalid_argument("synth: duration must be in (0, 86400] s, got " + std::to_string(duration_s));
    if (!(defect_rate >= 0 && defect_rate <= 1))
        return invalid_argument("synth: defect rate must be in [0, 1], got " + std::to_string(defect_rate));
    if (streams < 1 || streams > 1024)
        return invalid_argument("synth: streams must be in [1, 1024], got " + std::to_string(streams));
    if (!(noise >= 0 && noise <= 64))
        return invalid_argument("synth: noise must be in [0, 64], got " + std::to_string(noise));
    return Status::ok();
}

nlohmann::json to_json(const FrameTruth& t) {
    auto box = [](const BoxI& b) { return nlohmann::json::array({b.x1, b.y1, b.x2, b.y2}); };
    nlohmann::json parts = nlohmann::json::array();
    for (const PartTruth& p : t.parts) {
        nlohmann::json defects = nlohmann::json::array();
        for (const DefectTruth& d : p.defects)
            defects.push_back({{"class", defect_class_name(d.cls)}, {"box", box(d.box)}});
        parts.push_back({{"id", p.id},
                         {"class", part_class_name(p.cls)},
                         {"serial", p.serial},
                         {"box", box(p.box)},
                         {"label_box", p.label_box.empty() ? nlohmann::json(nullptr) : box(p.label_box)},
                         {"fully_in_view", p.fully_in_view},
                         {"defects", std::move(defects)}});
    }
    return {{"index", t.index}, {"parts", std::move(parts)}};
}

struct Scene::Impl {
    SynthOptions o;
    int stream = 0;
    uint64_t seed = 0;
    Lighting lighting = Lighting::kBright;
    int64_t frames = 0;
    int speed = 1;  // belt pixels per frame
    int blur = 0;   // motion blur kernel width (0: none)
    std::vector<PartSpec> parts;
    std::map<int, Sprite> sprites;  // cache of the parts in view
    cv::Mat belt;                   // height x (width + period), scrolled by `speed` a frame
    int belt_period = 1;
    cv::Mat gain;  // per-pixel light, 128 = 1.0 (CV_8UC3)
    double flicker_hz = 0, flicker_phase = 0;
    std::vector<cv::Mat> noise_up, noise_down;  // precomputed sensor noise, cycled

    void layout();
    void make_belt();
    void make_light();
    Sprite draw(const PartSpec& p) const;
    double light_factor(int64_t index) const;
};

void Scene::Impl::layout() {
    Rng rng(mix(seed, 1));
    const int w = o.width, h = o.height;
    // Parts come in from the left; the first one is already on screen at frame 0, the last one enters before the end.
    double x = rng.uniform(0.25, 0.7) * w;
    const int64_t travel = frames * speed;
    for (int id = 0;; ++id) {
        PartSpec p;
        p.id = id;
        p.seed = mix(seed, 1000 + static_cast<uint64_t>(id));
        const int kind = rng.integer(0, 2);
        p.cls = kind == 0 ? PartClass::kGear : kind == 1 ? PartClass::kPlate : PartClass::kBracket;
        p.serial = make_serial(rng);
        p.size = static_cast<int>(std::lround(h * rng.uniform(0.32, 0.42)));
        p.canvas = static_cast<int>(std::ceil(p.size * 1.2)) + 2 * blur + 4;
        x -= p.canvas;
        p.x0 = static_cast<int64_t>(std::floor(x));
        const double jitter = rng.uniform(-0.06, 0.06) * h;
        p.y = std::clamp(static_cast<int>(std::lround((h - p.canvas) / 2.0 + jitter)), 0, std::max(0, h - p.canvas));
        if (rng.chance(o.defect_rate)) {
            const int n = rng.chance(0.25) ? 2 : 1;
            for (int i = 0; i < n; ++i) {
                const int kinds = p.cls == PartClass::kGear ? 4 : 3;
                DefectSpec d{static_cast<DefectClass>(rng.integer(0, kinds - 1))};
                if (d.cls == DefectClass::kMissingTooth && i > 0) d.cls = DefectClass::kDent;
                p.defects.push_back(d);
            }
        }
        if (p.x0 + travel < -p.canvas) break;  // never enters the view
        parts.push_back(std::move(p));
        x -= rng.uniform(0.03, 0.3) * w;
    }
}

void Scene::Impl::make_belt() {
    Rng rng(mix(seed, 2));
    const int w = o.width, h = o.height;
    belt_period = std::max(16, w / 5);
    belt.create(h, w + belt_period, CV_8UC3);
    const double base = rng.uniform(55, 80);
    belt.setTo(cv::Scalar(base, base + 2, base + 4));
    // Belt texture: faint horizontal streaks, seams every period, rails top and bottom.
    cv::Mat streaks(h, 1, CV_8UC3);
    for (int y = 0; y < h; ++y) {
        const double v = base + rng.uniform(-6, 6);
        streaks.at<cv::Vec3b>(y) = cv::Vec3b(cv::saturate_cast<uint8_t>(v), cv::saturate_cast<uint8_t>(v + 2),
                                             cv::saturate_cast<uint8_t>(v + 4));
    }
    cv::repeat(streaks, 1, belt.cols, belt);
    const int seam = std::max(2, h / 240);
    for (int x = 0; x < belt.cols; x += belt_period)
        cv::rectangle(belt, cv::Rect(x, 0, seam, h), cv::Scalar(base - 25, base - 25, base - 25), cv::FILLED);
    const int rail = h / 14;
    cv::rectangle(belt, cv::Rect(0, 0, belt.cols, rail), cv::Scalar(100, 104, 108), cv::FILLED);
    cv::rectangle(belt, cv::Rect(0, h - rail, belt.cols, rail), cv::Scalar(100, 104, 108), cv::FILLED);
    for (int x = belt_period / 2; x < belt.cols; x += belt_period / 2) {
        // Bolts on the rails, so that the scrolling reads as motion.
        fill_circle(belt, {x + 0.5, rail / 2.0}, rail / 5.0, cv::Scalar(70, 72, 75), cv::LINE_AA);
        fill_circle(belt, {x + 0.5, h - rail / 2.0}, rail / 5.0, cv::Scalar(70, 72, 75), cv::LINE_AA);
    }
}

void Scene::Impl::make_light() {
    Rng rng(mix(seed, 3));
    const int w = o.width, h = o.height;
    gain.create(h, w, CV_8UC3);
    switch (lighting) {
        case Lighting::kBright:
            gain.setTo(cv::Scalar::all(128 * rng.uniform(0.95, 1.1)));
            break;
        case Lighting::kDim:
            gain.setTo(cv::Scalar::all(128 * rng.uniform(0.22, 0.34)));
            break;
        case Lighting::kFlicker:
            gain.setTo(cv::Scalar::all(128 * rng.uniform(0.55, 0.8)));
            break;
        case Lighting::kShadow: {
            // Full light, crossed by one or two shadows of beams over the belt: bands a fifth to a third of the frame
            // wide at a tenth of the light, their edges blurred over a few pixels, so that parts pass through them.
            gain.setTo(cv::Scalar::all(128 * rng.uniform(0.95, 1.1)));
            const int bands = rng.chance(0.5) ? 1 : 2;
            for (int b = 0; b < bands; ++b) {
                const double width = rng.uniform(0.2, 0.33) * w / bands, left = rng.uniform(0, w - width);
                const double slant = rng.uniform(-0.25, 0.25) * h, depth = rng.uniform(0.07, 0.14);
                const double edge = std::max(2.0, 0.006 * w);
                for (int y = 0; y < h; ++y) {
                    auto* row = gain.ptr<cv::Vec3b>(y);
                    const double x0 = left + slant * (double(y) / h - 0.5);
                    for (int x = 0; x < w; ++x) {
                        // 1 inside the band, 0 outside, a linear ramp `edge` pixels wide at each side.
                        const double in = std::clamp(std::min(x - x0, x0 + width - x) / edge + 0.5, 0.0, 1.0);
                        const double lit = row[x][0] / 128.0;
                        const uint8_t g = cv::saturate_cast<uint8_t>(128 * lit * (1.0 - in * (1.0 - depth)));
                        row[x] = cv::Vec3b(g, g, g);
                    }
                }
            }
            break;
        }
        case Lighting::kMixed:
        case Lighting::kUneven: {
            // A spot light somewhere over the belt plus a ramp: one side of the frame nearly dark.
            const double cx = rng.uniform(0, w), cy = rng.uniform(0.2, 0.8) * h, sigma = rng.uniform(0.3, 0.5) * w;
            const double lo = rng.uniform(0.12, 0.25), hi = rng.uniform(0.95, 1.15);
            const bool ramp_right = rng.chance(0.5);
            for (int y = 0; y < h; ++y) {
                auto* row = gain.ptr<cv::Vec3b>(y);
                for (int x = 0; x < w; ++x) {
                    const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                    const double ramp = ramp_right ? double(x) / w : 1.0 - double(x) / w;
                    const double f = 0.7 * std::exp(-d2 / (2 * sigma * sigma)) + 0.3 * ramp;
                    const uint8_t g = cv::saturate_cast<uint8_t>(128 * (lo + (hi - lo) * f));
                    row[x] = cv::Vec3b(g, g, g);
                }
            }
            break;
        }
    }
    flicker_hz = rng.uniform(0.7, 2.5);
    flicker_phase = rng.uniform(0, 2 * kPi);
    if (o.noise > 0) {
        cv::RNG cv_rng(mix(seed, 4));
        for (int i = 0; i < 4; ++i) {
            cv::Mat n(h, w, CV_16SC3);
            cv_rng.fill(n, cv::RNG::NORMAL, 0, o.noise);
            cv::Mat up, down;
            n.convertTo(up, CV_8UC3);  // saturates the negative half to 0
            cv::Mat neg = -n;
            neg.convertTo(down, CV_8UC3);
            noise_up.push_back(up);
            noise_down.push_back(down);
        }
    }
}

double Scene::Impl::light_factor(int64_t index) const {
    const double t = static_cast<double>(index) / o.fps;
    switch (lighting) {
        case Lighting::kFlicker: {
            double f = 1.0 + 0.3 * std::sin(2 * kPi * flicker_hz * t + flicker_phase);
            // Now and then a deep dip (a lamp browning out) for a frame.
            if (Rng(mix(seed, 5000 + static_cast<uint64_t>(index))).chance(0.06)) f *= 0.45;
            return f;
        }
        case Lighting::kUneven:
        case Lighting::kMixed:
            return 1.0 + 0.06 * std::sin(2 * kPi * 0.2 * t + flicker_phase);
        case Lighting::kBright:
        case Lighting::kDim:
        case Lighting::kShadow:
            return 1.0;
    }
    return 1.0;
}

Sprite Scene::Impl::draw(const PartSpec& p) const {
    Rng rng(p.seed);
    const int n = p.canvas;
    Sprite s;
    cv::Mat body(n, n, CV_8UC1, cv::Scalar(0));
    const cv::Point2d c(n / 2.0, n / 2.0);
    const double size = p.size;
    std::vector<int> missing;
    for (const DefectSpec& d : p.defects)
        if (d.cls == DefectClass::kMissingTooth) missing.push_back(0);  // tooth index fixed below
    // Outline and holes, in the body mask; the label's place in part coordinates.
    std::vector<std::pair<cv::Point2d, double>> holes;
    cv::Point2d label_center;
    GearGeometry gear{};
    switch (p.cls) {
        case PartClass::kGear: {
            gear = {c, size / 2, size / 2 * 0.8, rng.uniform(0, 2 * kPi), rng.integer(10, 16)};
            if (!missing.empty()) {
                // A tooth away from the label (which sits below the hub): in the upper half of the gear.
                for (int tries = 0; tries < 100; ++tries) {
                    const int k = rng.integer(0, gear.teeth - 1);
                    if (std::sin(gear.phase + k * gear.pitch()) < -0.3) {
                        missing[0] = k;
                        break;
                    }
                }
            }
            fill_poly(body, gear.outline(missing), cv::Scalar(255), cv::LINE_AA);
            holes.push_back({c, size / 2 * 0.16});
            label_center = {c.x, c.y + size / 2 * 0.42};
            break;
        }
        case PartClass::kPlate: {
            const double a = rng.uniform(-0.2, 0.2), hw = size / 2, hh = size * 0.31, ch = size * 0.06;
            fill_poly(body,
                      transform({{-hw + ch, -hh},
                                 {hw - ch, -hh},
                                 {hw, -hh + ch},
                                 {hw, hh - ch},
                                 {hw - ch, hh},
                                 {-hw + ch, hh},
                                 {-hw, hh - ch},
                                 {-hw, -hh + ch}},
                                c, a, false),
                      cv::Scalar(255), cv::LINE_AA);
            const double ix = hw - size * 0.1, iy = hh - size * 0.1;
            for (const auto& q : transform({{-ix, -iy}, {ix, -iy}, {ix, iy}, {-ix, iy}}, c, a, false))
                holes.push_back({q, size * 0.045});
            label_center = c;
            break;
        }
        case PartClass::kBracket: {
            const double a = rng.uniform(-0.1, 0.1), hw = size / 2, hh = size * 0.4, t = size * 0.3, t2 = size * 0.34;
            const bool flip = rng.chance(0.5);
            fill_poly(body,
                      transform({{-hw, -hh}, {-hw + t, -hh}, {-hw + t, hh - t2}, {hw, hh - t2}, {hw, hh}, {-hw, hh}}, c,
                                a, flip),
                      cv::Scalar(255), cv::LINE_AA);
            for (const auto& q :
                 transform({{-hw + t / 2, -hh + size * 0.12}, {-hw + t / 2, -hh + size * 0.32}}, c, a, flip))
                holes.push_back({q, size * 0.05});
            label_center = transform({{size * 0.12, hh - t2 / 2}}, c, a, flip)[0];
            break;
        }
    }
    for (const auto& [q, r] : holes) fill_circle(body, q, r, cv::Scalar(0), cv::LINE_AA);

    // Brushed metal: a base tint, a diagonal shading ramp and a few machining rings or streaks.
    const double base = rng.uniform(165, 210);
    const cv::Vec3d tint(base + rng.uniform(-8, 8), base + rng.uniform(-6, 6), base + rng.uniform(-10, 4));
    cv::Mat color(n, n, CV_8UC3);
    const double ramp_angle = rng.uniform(0, 2 * kPi);
    const double rx = std::cos(ramp_angle) / n, ry = std::sin(ramp_angle) / n;
    for (int y = 0; y < n; ++y) {
        auto* row = color.ptr<cv::Vec3b>(y);
        for (int x = 0; x < n; ++x) {
            const double shade = 0.85 + 0.25 * ((x - c.x) * rx + (y - c.y) * ry + 0.5);
            row[x] = cv::Vec3b(cv::saturate_cast<uint8_t>(tint[0] * shade), cv::saturate_cast<uint8_t>(tint[1] * shade),
                               cv::saturate_cast<uint8_t>(tint[2] * shade));
        }
    }
    if (p.cls == PartClass::kGear)
        cv::circle(color, fixed(c), static_cast<int>(std::lround(size / 2 * 0.62 * (1 << kShift))),
                   cv::Scalar(tint * 0.8), std::max(1, p.size / 80), cv::LINE_AA, kShift);

    // The label: a light sticker with the serial in a Hershey font, sized to the part so it reads at any resolution.
    const int font = cv::FONT_HERSHEY_DUPLEX;
    int baseline = 0;
    const cv::Size unit = cv::getTextSize(p.serial, font, 1.0, 1, &baseline);
    const double scale = 0.55 * size / unit.width;
    const int thickness = scale < 0.6 ? 1 : static_cast<int>(std::lround(scale * 1.6));
    const cv::Size text = cv::getTextSize(p.serial, font, scale, thickness, &baseline);
    const int margin = std::max(3, static_cast<int>(std::lround(text.height * 0.45)));
    const cv::Rect label(static_cast<int>(std::lround(label_center.x - text.width / 2.0)) - margin,
                         static_cast<int>(std::lround(label_center.y - text.height / 2.0)) - margin,
                         text.width + 2 * margin, text.height + 2 * margin);

    // Defects: dark marks on the metal, never on the label (the serial must stay readable) or in a hole.
    cv::Mat defect_masks(n, n, CV_8UC1, cv::Scalar(0));
    cv::Mat forbidden(n, n, CV_8UC1, cv::Scalar(0));
    cv::rectangle(forbidden, label, cv::Scalar(255), cv::FILLED);
    cv::dilate(forbidden, forbidden, cv::Mat(), cv::Point(-1, -1), std::max(2, p.size / 40));
    const auto inside = [&](cv::Point2d q) {
        const int x = static_cast<int>(q.x), y = static_cast<int>(q.y);
        return x >= 0 && y >= 0 && x < n && y < n && body.at<uint8_t>(y, x) == 255 && forbidden.at<uint8_t>(y, x) == 0;
    };
    for (const DefectSpec& d : p.defects) {
        cv::Mat mask(n, n, CV_8UC1, cv::Scalar(0));
        const double dark = rng.uniform(25, 60);
        const cv::Scalar ink(dark, dark, dark + 3);
        if (d.cls == DefectClass::kMissingTooth) {
            // The gap where the tooth should be, down to the root circle; its box is clipped to the part's box below.
            fill_poly(mask, gear.gap(missing[0]), cv::Scalar(255), cv::LINE_8);
            s.defects.push_back({d.cls, mask_box(mask)});
            continue;
        }
        // Draw the mark into its own mask first, retrying until it lies wholly on bare metal.
        bool placed = false;
        for (int tries = 0; tries < 200 && !placed; ++tries) {
            mask.setTo(0);
            cv::Point2d q(rng.uniform(0, n), rng.uniform(0, n));
            if (!inside(q)) continue;
            // A mark is polylines: a path from q, and for cracks branches off it.
            std::vector<std::vector<cv::Point2d>> paths{{q}};
            paths.reserve(3);  // `path` stays valid while branches are added
            std::vector<cv::Point2d>& path = paths[0];
            int width = 1;
            switch (d.cls) {
                case DefectClass::kScratch: {
                    // A straight groove; its far wall catches the light (drawn after placement).
                    const double a = rng.uniform(0, kPi), len = rng.uniform(0.18, 0.32) * size;
                    path.push_back({q.x + len * std::cos(a), q.y + len * std::sin(a)});
                    width = std::max(2, static_cast<int>(std::lround(size / 110)));
                    break;
                }
                case DefectClass::kCrack: {
                    // A fracture wanders in short jagged steps and forks: one or two branches leave the main path.
                    double a = rng.uniform(0, 2 * kPi);
                    const int segments = rng.integer(8, 12);
                    for (int i = 0; i < segments; ++i) {
                        a += rng.uniform(-1.1, 1.1);
                        const double len = rng.uniform(0.02, 0.04) * size;
                        path.push_back({path.back().x + len * std::cos(a), path.back().y + len * std::sin(a)});
                    }
                    const int branches = rng.integer(1, 2);
                    for (int b = 0; b < branches; ++b) {
                        const auto& from = path[static_cast<size_t>(rng.integer(2, segments - 2))];
                        std::vector<cv::Point2d> branch{from};
                        double ba = rng.uniform(0, 2 * kPi);
                        for (int i = rng.integer(3, 5); i > 0; --i) {
                            ba += rng.uniform(-1.0, 1.0);
                            const double len = rng.uniform(0.015, 0.03) * size;
                            branch.push_back(
                                {branch.back().x + len * std::cos(ba), branch.back().y + len * std::sin(ba)});
                        }
                        paths.push_back(std::move(branch));
                    }
                    width = std::max(2, static_cast<int>(std::lround(size / 75)));
                    break;
                }
                case DefectClass::kDent: {
                    const double r = rng.uniform(0.03, 0.055) * size;
                    path.push_back({q.x + r, q.y + r * rng.uniform(0.6, 1.0)});
                    break;
                }
                case DefectClass::kMissingTooth:
                    break;
            }
            bool ok = true;
            for (const auto& line : paths)
                for (const auto& v : line) ok = ok && inside(v);
            if (!ok) continue;
            if (d.cls == DefectClass::kDent) {
                const cv::Size axes(static_cast<int>(path[1].x - q.x), static_cast<int>(path[1].y - q.y));
                cv::ellipse(mask, cv::Point(q), axes, rng.uniform(0, 180), 0, 360, cv::Scalar(255), cv::FILLED);
            } else {
                cv::polylines(mask, std::vector<std::vector<cv::Point>>{fixed(paths[0])}, false, cv::Scalar(255), width,
                              cv::LINE_8, kShift);
                for (size_t b = 1; b < paths.size(); ++b)  // branches are finer than the main fracture
                    cv::polylines(mask, std::vector<std::vector<cv::Point>>{fixed(paths[b])}, false, cv::Scalar(255),
                                  std::max(1, width - 1), cv::LINE_8, kShift);
            }
            cv::Mat overlap;
            cv::bitwise_and(mask, forbidden, overlap);
            cv::Mat bare;
            cv::bitwise_not(body, bare);
            cv::bitwise_or(overlap, bare & mask, overlap);
            placed = cv::countNonZero(overlap) == 0;
        }
        if (!placed) continue;
        color.setTo(ink, mask);
        if (d.cls == DefectClass::kDent || d.cls == DefectClass::kScratch) {
            // A dent has a lit rim on one side, a scratch a lit far wall: what tells them from dirt and cracks.
            cv::Mat rim;
            cv::dilate(mask, rim, cv::Mat(), cv::Point(-1, -1), d.cls == DefectClass::kDent ? 2 : 1);
            rim -= mask;
            cv::Mat shifted;
            const double by = d.cls == DefectClass::kDent ? 2 : 1;
            cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, by, 0, 1, by);
            cv::warpAffine(rim, shifted, m, rim.size());
            color.setTo(cv::Scalar(235, 235, 235), shifted & ~mask & body);
            mask |= shifted & body;
        }
        defect_masks |= mask;
        s.defects.push_back({d.cls, mask_box(mask & body)});
    }

    cv::rectangle(color, label, cv::Scalar::all(rng.uniform(225, 245)), cv::FILLED);
    const double ink = rng.uniform(15, 40);
    cv::putText(color, p.serial, cv::Point(label.x + margin, label.y + margin + text.height), font, scale,
                cv::Scalar(ink, ink, ink), thickness, cv::LINE_AA);
    cv::Mat alpha = body.clone();
    cv::rectangle(alpha, label, cv::Scalar(255), cv::FILLED);

    // Premultiply: the sprite is blended over the belt with its coverage, anti-aliased edges included.
    s.premul.create(n, n, CV_8UC3);
    for (int y = 0; y < n; ++y) {
        const auto* src = color.ptr<cv::Vec3b>(y);
        const uint8_t* a = alpha.ptr<uint8_t>(y);
        auto* dst = s.premul.ptr<cv::Vec3b>(y);
        for (int x = 0; x < n; ++x)
            for (int k = 0; k < 3; ++k) dst[x][k] = static_cast<uint8_t>((src[x][k] * a[x] + 127) / 255);
    }
    s.alpha = alpha;
    cv::Mat solid = alpha >= 128;
    s.body = mask_box(solid);
    s.label = {label.x, label.y, label.x + label.width, label.y + label.height};
    for (DefectTruth& d : s.defects)
        d.box = {std::max(d.box.x1, s.body.x1), std::max(d.box.y1, s.body.y1), std::min(d.box.x2, s.body.x2),
                 std::min(d.box.y2, s.body.y2)};
    if (blur > 1) {
        // Motion blur along the belt; the truth keeps the boxes of the sharp part (the smear is < blur/2 pixels).
        cv::blur(s.premul, s.premul, cv::Size(blur, 1), cv::Point(-1, -1), cv::BORDER_CONSTANT);
        cv::blur(s.alpha, s.alpha, cv::Size(blur, 1), cv::Point(-1, -1), cv::BORDER_CONSTANT);
    }
    return s;
}

Scene::Scene(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Scene::~Scene() = default;

Result<std::unique_ptr<Scene>> Scene::create(const SynthOptions& options, int stream) {
    FOVEA_TRY(options.validate());
    if (stream < 0 || stream >= options.streams)
        return out_of_range("synth: stream " + std::to_string(stream) + " of " + std::to_string(options.streams));
    auto impl = std::make_unique<Impl>();
    impl->o = options;
    impl->stream = stream;
    impl->seed = mix(options.seed, static_cast<uint64_t>(stream));
    impl->lighting = options.lighting == Lighting::kMixed ? static_cast<Lighting>(stream % 4) : options.lighting;
    impl->frames = std::max<int64_t>(1, std::llround(options.duration_s * options.fps));
    // The belt crosses the frame in about 5 s whatever the frame rate and size.
    impl->speed = std::max(1, static_cast<int>(std::lround(options.width / (5.0 * options.fps))));
    impl->blur = options.motion_blur ? std::max(2, impl->speed / 2) | 1 : 0;
    impl->layout();
    impl->make_belt();
    impl->make_light();
    return std::unique_ptr<Scene>(new Scene(std::move(impl)));
}

int64_t Scene::frame_count() const {
    return impl_->frames;
}
Lighting Scene::lighting() const {
    return impl_->lighting;
}

nlohmann::json Scene::parts_json() const {
    nlohmann::json out = nlohmann::json::array();
    for (const PartSpec& p : impl_->parts) {
        // From the drawn sprite, not the plan: a mark that found no room on the metal is not there.
        const Sprite sprite = impl_->draw(p);
        nlohmann::json defects = nlohmann::json::array();
        for (const DefectTruth& d : sprite.defects) defects.push_back(defect_class_name(d.cls));
        out.push_back({{"id", p.id},
                       {"class", part_class_name(p.cls)},
                       {"serial", p.serial},
                       {"defective", !sprite.defects.empty()},
                       {"defects", defects}});
    }
    return out;
}

FrameTruth Scene::render(int64_t index, media::Frame& frame) {
    Impl& s = *impl_;
    const int w = s.o.width, h = s.o.height;
    if (frame.empty() || frame.width != w || frame.height != h || frame.format != media::PixelFormat::kBGR24)
        frame = media::make_bgr_frame(w, h);
    cv::Mat out(h, w, CV_8UC3, frame.pixels.get(), static_cast<size_t>(frame.stride));
    const int scroll = static_cast<int>((index * s.speed) % s.belt_period);
    s.belt(cv::Rect(s.belt_period - scroll, 0, w, h)).copyTo(out);

    FrameTruth truth;
    truth.index = index;
    std::map<int, Sprite> used;
    for (const PartSpec& p : s.parts) {
        const int64_t x = p.x0 + index * s.speed;
        if (x >= w || x + p.canvas <= 0) continue;
        auto cached = s.sprites.find(p.id);
        Sprite sprite = cached != s.sprites.end() ? std::move(cached->second) : s.draw(p);
        // Blend the premultiplied sprite over the belt, clipped to the frame.
        const int x0 = static_cast<int>(std::max<int64_t>(0, x)),
                  x1 = static_cast<int>(std::min<int64_t>(w, x + p.canvas));
        const int y0 = std::max(0, p.y), y1 = std::min(h, p.y + p.canvas);
        for (int y = y0; y < y1; ++y) {
            const auto* src = sprite.premul.ptr<cv::Vec3b>(y - p.y);
            const uint8_t* a = sprite.alpha.ptr<uint8_t>(y - p.y);
            auto* dst = out.ptr<cv::Vec3b>(y);
            for (int xx = x0; xx < x1; ++xx) {
                const int sx = static_cast<int>(xx - x);
                const unsigned alpha = a[sx];
                if (alpha == 0) continue;
                for (int k = 0; k < 3; ++k) {
                    const unsigned v = dst[xx][k] * (255u - alpha);
                    dst[xx][k] = static_cast<uint8_t>(src[sx][k] + ((v + 1 + (v >> 8)) >> 8));
                }
            }
        }
        PartTruth t;
        t.id = p.id;
        t.cls = p.cls;
        t.serial = p.serial;
        const BoxI full = shift(sprite.body, x, p.y);
        t.box = clip(full, w, h);
        if (!t.box.empty()) {
            t.fully_in_view = t.box.x1 == full.x1 && t.box.x2 == full.x2 && t.box.y1 == full.y1 && t.box.y2 == full.y2;
            t.label_box = clip(shift(sprite.label, x, p.y), w, h);
            for (const DefectTruth& d : sprite.defects) {
                const BoxI b = clip(shift(d.box, x, p.y), w, h);
                if (!b.empty()) t.defects.push_back({d.cls, b});
            }
            truth.parts.push_back(std::move(t));
        }
        used.emplace(p.id, std::move(sprite));
    }
    s.sprites = std::move(used);

    // Light: the stream's gain map times this frame's factor (flicker), then sensor noise.
    cv::multiply(out, s.gain, out, s.light_factor(index) / 128.0);
    if (!s.noise_up.empty()) {
        const size_t k = static_cast<size_t>(index) % s.noise_up.size();
        cv::add(out, s.noise_up[k], out);
        cv::subtract(out, s.noise_down[k], out);
    }
    frame.index = index;
    frame.pts_us = static_cast<int64_t>(std::llround(index * 1e6 / s.o.fps));
    return truth;
}

Status generate(const SynthOptions& options, const std::string& out_dir, FILE* progress) {
    FOVEA_TRY(options.validate());
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) return io_error("synth: cannot create '" + out_dir + "': " + ec.message());
    nlohmann::json streams = nlohmann::json::array();
    for (int i = 0; i < options.streams; ++i) {
        FOVEA_ASSIGN(auto scene, Scene::create(options, i));
        char name[32];
        std::snprintf(name, sizeof(name), "stream_%d", i);  // unpadded, like a pipeline source's `count` names them
        const std::string video = std::string(name) + ".mp4", gt = std::string(name) + ".json";
        const std::string video_path = (std::filesystem::path(out_dir) / video).string();
        FOVEA_ASSIGN(auto writer, media::VideoWriter::open(video_path, options.width, options.height, options.fps,
                                                           options.crf, options.preset));
        nlohmann::json frames = nlohmann::json::array();
        media::Frame frame;
        for (int64_t f = 0; f < scene->frame_count(); ++f) {
            frames.push_back(to_json(scene->render(f, frame)));
            FOVEA_TRY(writer->write(frame).with_context("synth: " + video_path));
        }
        FOVEA_TRY(writer->close().with_context("synth: " + video_path));
        const nlohmann::json truth = {{"format", "fovea-synth-truth"},
                                      {"version", kDrawingVersion},
                                      {"stream", i},
                                      {"video", video},
                                      {"width", options.width},
                                      {"height", options.height},
                                      {"fps", options.fps},
                                      {"frames_count", scene->frame_count()},
                                      {"seed", options.seed},
                                      {"lighting", lighting_name(scene->lighting())},
                                      {"classes", class_names()},
                                      {"parts", scene->parts_json()},
                                      {"frames", std::move(frames)}};
        const std::string gt_path = (std::filesystem::path(out_dir) / gt).string();
        std::ofstream out(gt_path);
        out << truth.dump() << '\n';
        if (!out) return io_error("synth: cannot write '" + gt_path + "'");
        streams.push_back(
            {{"name", name}, {"video", video}, {"truth", gt}, {"lighting", lighting_name(scene->lighting())}});
        if (progress)
            std::fprintf(progress, "%s: %lld frames, %s light, %zu parts\n", video_path.c_str(),
                         static_cast<long long>(scene->frame_count()), lighting_name(scene->lighting()),
                         scene->parts_json().size());
    }
    const nlohmann::json manifest = {{"format", "fovea-synth-manifest"},
                                     {"version", kDrawingVersion},
                                     {"width", options.width},
                                     {"height", options.height},
                                     {"fps", options.fps},
                                     {"duration_s", options.duration_s},
                                     {"defect_rate", options.defect_rate},
                                     {"seed", options.seed},
                                     {"lighting", lighting_name(options.lighting)},
                                     {"motion_blur", options.motion_blur},
                                     {"noise", options.noise},
                                     {"classes", class_names()},
                                     {"streams", std::move(streams)}};
    const std::string path = (std::filesystem::path(out_dir) / "manifest.json").string();
    std::ofstream out(path);
    out << manifest.dump(2) << '\n';
    if (!out) return io_error("synth: cannot write '" + path + "'");
    return Status::ok();
}

}  // namespace fovea::synth
