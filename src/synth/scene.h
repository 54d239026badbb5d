// Synthetic conveyor-line footage with exact ground truth: parts (gears, plates, brackets) ride a belt under a
// camera, some carry defects, every one carries a printed serial number on a light label. A pure function of
// (options, stream, frame index), so a seed reproduces the same pixels and the same truth anywhere.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "media/frame.h"

namespace fovea::synth {

enum class PartClass { kGear, kPlate, kBracket };
enum class DefectClass { kScratch, kDent, kCrack, kMissingTooth };
// kMixed gives stream i the profile i % 4 of bright, dim, uneven, flicker: one run covers all of them. kShadow (not
// in the mix) is a bright belt with hard-edged deep shadows across it: one frame holds both extremes, the case for
// local (CLAHE) over global equalization.
enum class Lighting { kBright, kDim, kUneven, kFlicker, kMixed, kShadow };

const char* part_class_name(PartClass c);
const char* defect_class_name(DefectClass c);
const char* lighting_name(Lighting l);
Result<Lighting> parse_lighting(const std::string& name);
// The detector's classes in training order: part types, defect types, then "label" (the serial-number sticker).
const std::vector<std::string>& class_names();

struct SynthOptions {
    int width = 1280, height = 720;  // even (4:2:0 video)
    double fps = 15;
    double duration_s = 10;
    double defect_rate = 0.3;  // probability that a part carries at least one defect
    int streams = 1;
    uint64_t seed = 1;
    Lighting lighting = Lighting::kMixed;
    bool motion_blur = false;  // parts smeared along the belt over half the frame time
    double noise = 0;          // sensor noise, standard deviation in 8-bit levels (0: none)
    int crf = 20;
    std::string preset = "veryfast";
    Status validate() const;
};

// Pixel boxes: x1, y1 inclusive, x2, y2 exclusive (the extent of the pixels, as detectors predict them).
struct BoxI {
    int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    bool empty() const { return x2 <= x1 || y2 <= y1; }
    int area() const { return empty() ? 0 : (x2 - x1) * (y2 - y1); }
};

struct DefectTruth {
    DefectClass cls;
    BoxI box;
};

// One part as seen in one frame; boxes are clipped to the frame.
struct PartTruth {
    int id = 0;  // unique within a stream; the same part keeps its id from frame to frame
    PartClass cls = PartClass::kGear;
    std::string serial;
    BoxI box;
    BoxI label_box;  // empty when the label is out of view
    bool fully_in_view = false;
    std::vector<DefectTruth> defects;
};

struct FrameTruth {
    int64_t index = 0;
    std::vector<PartTruth> parts;
};

nlohmann::json to_json(const FrameTruth& t);

// One camera's stream. Construction lays out every part of the run; render() draws any frame in any order.
class Scene {
  public:
    static Result<std::unique_ptr<Scene>> create(const SynthOptions& options, int stream);
    ~Scene();
    Scene(const Scene&) = delete;
    Scene& operator=(const Scene&) = delete;

    int64_t frame_count() const;
    Lighting lighting() const;
    // Draws frame `index` into `frame` (a BGR24 frame of the options' size, allocated when empty) and returns its
    // truth. Not thread-safe (it caches part sprites).
    FrameTruth render(int64_t index, media::Frame& frame);
    // Per-part facts that do not change from frame to frame (id, class, serial, defective).
    nlohmann::json parts_json() const;

    struct Impl;

  private:
    explicit Scene(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// "SN-" four digits "-" two capital letters (I and O left out: they read as 1 and 0).
bool is_valid_serial(const std::string& s);

// Renders `options.streams` streams into `out_dir`: stream_N.mp4 (H.264), stream_N.json (the truth of every
// frame) and manifest.json (the options and the list of streams). `progress` (may be null) gets one line per stream.
Status generate(const SynthOptions& options, const std::string& out_dir, FILE* progress = nullptr);

}  // namespace fovea::synth
