// `fovea synth`: conveyor-line videos with exact per-frame ground truth (src/synth), for training and `fovea eval`.
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "synth/scene.h"

namespace fovea::cli {

Command add_synth(CLI::App& app) {
    auto* sub =
        app.add_subcommand("synth", "Render conveyor-line videos (parts, defects, serial labels) with ground truth");
    struct Options {
        std::string out, resolution = "720p", lighting = "mixed";
        synth::SynthOptions synth;
    };
    auto o = std::make_shared<Options>();
    sub->add_option("--out", o->out, "Output folder: stream_N.mp4, stream_N.json, manifest.json")->required();
    sub->add_option("--resolution", o->resolution, "720p, 1080p or WIDTHxHEIGHT")->capture_default_str();
    sub->add_option("--fps", o->synth.fps, "Frames per second")->capture_default_str();
    sub->add_option("--duration", o->synth.duration_s, "Seconds per stream")->capture_default_str();
    sub->add_option("--defect-rate", o->synth.defect_rate, "Probability that a part is defective")
        ->capture_default_str();
    sub->add_option("--streams", o->synth.streams, "Number of streams (cameras)")->capture_default_str();
    sub->add_option("--seed", o->synth.seed, "Seed: the same seed renders the same pixels and truth")
        ->capture_default_str();
    sub->add_option("--lighting", o->lighting,
                    "bright, dim, uneven, flicker, mixed (stream i gets profile i % 4 of the first four), or shadow (a "
                    "bright belt "
                    "crossed by deep shadows)")
        ->capture_default_str();
    sub->add_flag("--motion-blur", o->synth.motion_blur, "Smear parts along the belt");
    sub->add_option("--noise", o->synth.noise, "Sensor noise standard deviation in 8-bit levels")
        ->capture_default_str();
    sub->add_option("--crf", o->synth.crf, "H.264 constant rate factor")->capture_default_str();
    return {sub, [o]() -> Status {
                synth::SynthOptions s = o->synth;
                if (o->resolution == "720p") {
                    s.width = 1280, s.height = 720;
                } else if (o->resolution == "1080p") {
                    s.width = 1920, s.height = 1080;
                } else if (std::sscanf(o->resolution.c_str(), "%dx%d", &s.width, &s.height) != 2) {
                    return invalid_argument("synth: --resolution must be 720p, 1080p or WIDTHxHEIGHT, got '" +
                                            o->resolution + "'");
                }
                FOVEA_ASSIGN(s.lighting, synth::parse_lighting(o->lighting));
                const auto t0 = std::chrono::steady_clock::now();
                FOVEA_TRY(synth::generate(s, o->out, stdout));
                const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                const double video_s = s.duration_s * s.streams;
                std::printf("%d stream(s), %.1f s of video in %.1f s (%.2fx real time)\n", s.streams, video_s, seconds,
                            video_s / seconds);
                return Status::ok();
            }};
}

}  // namespace fovea::cli
