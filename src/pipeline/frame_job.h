// What travels from a stream to its model (FrameJob) and from the model to rules and sinks (FrameResult).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "media/frame.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"

namespace fovea::pipeline {

using Clock = std::chrono::steady_clock;

// One frame to infer: its preprocessed inputs (one per ROI), ready to be copied into a batch; or, on the GPU-resident
// path, the frame as decoded with its resolved ROIs (device_spec set, input_data and transforms left to the worker).
struct FrameJob {
    int stream = 0;  // index into the pipeline's streams
    media::Frame frame;
    std::vector<vision::Rect> rois;                 // resolved against the frame
    std::vector<vision::InputTransform> transforms;  // per ROI: model input -> frame coordinates
    std::shared_ptr<std::byte[]> input_data;         // rois.size() items of the model's input_item_bytes
    std::shared_ptr<const vision::PreprocessSpec> device_spec;  // GPU-resident path: the stream's spec
    Clock::time_point enqueued{};
    double decode_us = 0;
    double preprocess_us = 0;

    int inputs() const { return static_cast<int>(rois.size()); }  // batch slots this frame takes (one per ROI)
};

// A detection in frame coordinates, with what a cascade model said about its crop.
struct DetectionResult {
    vision::Detection det;
    int roi = 0;
    std::string secondary_label;  // classify cascade: top-1 class name (or id)
    float secondary_score = 0;
    std::string text;             // ctc cascade: the text read in the box
    float text_confidence = 0;
};

struct FrameResult {
    int stream = 0;
    media::Frame frame;
    std::vector<DetectionResult> detections;   // detectors
    std::vector<vision::ClassScore> classes;   // classifiers (per frame, first ROI)
    std::string text;                          // text recognizers (first ROI)
    float text_confidence = 0;
    Clock::time_point done{};                  // when post-processing, cascades and rules finished
};

}  // namespace fovea::pipeline
