// A synthetic camera: a deterministic moving pattern, so tests and benchmarks need no video files.
// Pixels are a pure function of (seed, frame index, size): two sources with the same spec agree frame by frame.
#include <algorithm>
#include <array>
#include <chrono>
#include <thread>
#include <vector>

#include "media/source_impl.h"

namespace fovea::media::detail {
namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Position on [0, span] bouncing between the ends: a triangle wave, so objects never leave the picture.
int bounce(int64_t start, int64_t step, int64_t t, int span) {
    if (span <= 0) return 0;
    const int64_t period = 2 * static_cast<int64_t>(span);
    int64_t p = (start + step * t) % period;
    if (p < 0) p += period;
    return static_cast<int>(p <= span ? p : period - p);
}

struct Shape {
    bool circle;
    int size;  // side or diameter
    int64_t x0, y0, vx, vy;
    std::array<uint8_t, 3> bgr;
};

// Distinct saturated colours, easy to tell apart for detectors and for eyes.
constexpr std::array<std::array<uint8_t, 3>, 6> kPalette = {{
    {{0, 0, 230}},    // red
    {{0, 200, 0}},    // green
    {{230, 60, 0}},   // blue
    {{0, 220, 230}},  // yellow
    {{220, 0, 220}},  // magenta
    {{230, 230, 0}},  // cyan
}};
constexpr int kShapes = 5;
constexpr int kCounterBits = 24;

class SyntheticSource final : public Source {
  public:
    explicit SyntheticSource(SourceSpec spec) : spec_(std::move(spec)) {
        width_ = spec_.width > 0 ? spec_.width : 1280;
        height_ = spec_.height > 0 ? spec_.height : 720;
        fps_ = effective_fps(spec_);
        uint64_t state = splitmix64(spec_.seed);
        const int scale = std::max(8, std::min(width_, height_) / 6);
        for (int i = 0; i < kShapes; ++i) {
            Shape s;
            state = splitmix64(state);
            s.circle = (i % 2) == 1;
            s.size = scale / 2 + static_cast<int>(state % static_cast<uint64_t>(scale));
            s.x0 = static_cast<int64_t>((state >> 8) % 10007);
            s.y0 = static_cast<int64_t>((state >> 24) % 10007);
            s.vx = 2 + static_cast<int64_t>((state >> 40) % 9);
            s.vy = 1 + static_cast<int64_t>((state >> 48) % 7);
            if ((state >> 56) & 1) s.vx = -s.vx;
            s.bgr = kPalette[(static_cast<size_t>(state >> 60) + static_cast<size_t>(i)) % kPalette.size()];
            shapes_.push_back(s);
        }
        const uint64_t tint = splitmix64(state);
        tint_ = {static_cast<uint8_t>(tint & 0x3f), static_cast<uint8_t>((tint >> 8) & 0x3f),
                 static_cast<uint8_t>((tint >> 16) & 0x3f)};
    }

    Status open() override {
        open_ = true;
        next_index_ = 0;
        return Status::ok();
    }

    Result<bool> read(Frame& frame) override {
        if (!open_) return invalid_argument(source_label(spec_) + ": read before open");
        const int64_t pts_us = static_cast<int64_t>(static_cast<double>(next_index_) * 1e6 / fps_);
        frame = render(next_index_);
        if (spec_.realtime) {
            const auto now = Clock::now();
            if (next_index_ == 0 || now - (start_ + std::chrono::microseconds(pts_us)) > std::chrono::seconds(1)) {
                start_ = now - std::chrono::microseconds(pts_us);
            }
            const auto target = start_ + std::chrono::microseconds(pts_us);
            if (target > now)
                counters_.paced_us += std::chrono::duration_cast<std::chrono::microseconds>(target - now).count();
            std::this_thread::sleep_until(target);
        }
        frame.index = next_index_++;
        frame.pts_us = pts_us;
        stamp_capture(frame);
        ++counters_.frames;
        return true;
    }

    void close() override { open_ = false; }
    const SourceCounters& counters() const override { return counters_; }

    std::string describe() const override {
        char fps[32];
        std::snprintf(fps, sizeof(fps), "%.4g fps", fps_);
        return "synthetic (" + std::to_string(width_) + "x" + std::to_string(height_) + " " + fps + ", seed " +
               std::to_string(spec_.seed) + ")";
    }

  private:
    Frame render(int64_t index) const {
        Frame f = make_bgr_frame(width_, height_);
        // A diagonal gradient that drifts slowly, so even the background changes between frames.
        const int drift = static_cast<int>(index % 256);
        for (int y = 0; y < height_; ++y) {
            uint8_t* row = f.row(y);
            const int g = y * 200 / height_;
            for (int x = 0; x < width_; ++x) {
                const int b = (x * 200 / width_ + drift) & 0xff;
                row[3 * x + 0] = static_cast<uint8_t>(std::min(255, b / 2 + tint_[0]));
                row[3 * x + 1] = static_cast<uint8_t>(g / 2 + tint_[1]);
                row[3 * x + 2] = static_cast<uint8_t>((b + g) / 4 + tint_[2]);
            }
        }
        for (const Shape& s : shapes_) {
            const int x = bounce(s.x0, s.vx, index, width_ - s.size);
            const int y = bounce(s.y0, s.vy, index, height_ - s.size);
            fill_shape(f, s, x, y);
        }
        draw_counter(f, index);
        return f;
    }

    static void fill_shape(Frame& f, const Shape& s, int x, int y) {
        const int r2 = (s.size / 2) * (s.size / 2);
        for (int dy = 0; dy < s.size && y + dy < f.height; ++dy) {
            uint8_t* row = f.row(y + dy);
            for (int dx = 0; dx < s.size && x + dx < f.width; ++dx) {
                if (s.circle) {
                    const int cx = dx - s.size / 2, cy = dy - s.size / 2;
                    if (cx * cx + cy * cy > r2) continue;
                }
                std::copy(s.bgr.begin(), s.bgr.end(), row + 3 * (x + dx));
            }
        }
    }

    // The frame index in binary as black/white blocks along the top edge, readable back from any frame.
    static void draw_counter(Frame& f, int64_t index) {
        const int block = std::max(2, f.width / (2 * kCounterBits));
        for (int bit = 0; bit < kCounterBits; ++bit) {
            const uint8_t v = ((index >> (kCounterBits - 1 - bit)) & 1) ? 255 : 0;
            for (int y = 0; y < block && y < f.height; ++y) {
                uint8_t* row = f.row(y);
                for (int x = bit * block; x < (bit + 1) * block && x < f.width; ++x) {
                    row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v;
                }
            }
        }
    }

    SourceSpec spec_;
    int width_ = 0;
    int height_ = 0;
    double fps_ = 25;
    std::vector<Shape> shapes_;
    std::array<uint8_t, 3> tint_{};
    bool open_ = false;
    int64_t next_index_ = 0;
    Clock::time_point start_{};
    SourceCounters counters_;
};

}  // namespace

std::unique_ptr<Source> make_synthetic_source(const SourceSpec& spec) {
    return std::make_unique<SyntheticSource>(spec);
}

}  // namespace fovea::media::detail
