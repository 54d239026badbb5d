// ModelRunner: one model of a pipeline, ready to run batches of preprocessed inputs and decode what comes out.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "fovea/session.h"
#include "pipeline/config.h"
#include "pipeline/frame_job.h"
#include "vision/frames_cuda.h"
#include "vision/preprocess_cuda.h"
#include "vision/yolo_cuda.h"

namespace fovea::pipeline {

// What one input item of a batch turned into.
struct ItemOutput {
    std::vector<vision::Detection> detections;  // detectors, in model-input coordinates
    std::vector<vision::ClassScore> classes;    // classifiers
    vision::TextResult text;                    // text recognizers
};

class ModelRunner {
  public:
    // Loads the model and compiles a session for each batch size it will use (powers of two up to max_batch,
    // or the model's fixed batch). `backend` overrides the config's when not empty.
    static Result<std::unique_ptr<ModelRunner>> load(const ModelConfig& config, const std::string& backend = "");
    ~ModelRunner();
    ModelRunner(const ModelRunner&) = delete;
    ModelRunner& operator=(const ModelRunner&) = delete;

    const ModelConfig& config() const { return config_; }
    // The input spec with the size the model expects.
    const vision::PreprocessSpec& input_spec() const { return config_.input; }
    size_t item_bytes() const { return item_bytes_; }
    int max_batch() const { return config_.max_batch; }
    const std::string& backend() const { return backend_; }
    const std::string& label(int class_id) const;

    // Runs the items (each item_bytes() long) and decodes each. The items are copied once, straight into the
    // batch tensor. Not thread-safe: one caller at a time.
    Result<std::vector<ItemOutput>> run(std::span<const std::byte* const> items);

    // The GPU-resident path (cuda backend, YOLO heads): frames decoded by NVDEC are read where they are, host frames
    // go up to the device (a batch may mix both), all are preprocessed there straight into the session's input, and
    // only the decoder's candidates come back. enable_device_path() sets it up and runs it once per batch size; an
    // error means the caller keeps the CPU path.
    Status enable_device_path();
    bool device_path() const { return uploader_ != nullptr; }
    // Frames the GPU-resident path read in GPU memory as decoded, and frames it uploaded from the host.
    int64_t device_frames() const { return uploader_ ? uploader_->device_frames() : 0; }
    int64_t uploaded_frames() const { return uploader_ ? uploader_->uploaded_frames() - warmup_uploads_ : 0; }
    struct FrameItem {
        const media::Frame* frame = nullptr;
        vision::Rect roi;                         // resolved against the frame
        const vision::PreprocessSpec* spec = nullptr;  // the stream's (its equalization on the model's spec)
    };
    // Detections in model-input coordinates, and each item's transform to frame coordinates.
    Result<std::vector<ItemOutput>> run_frames(std::span<const FrameItem> items,
                                               std::vector<vision::InputTransform>& transforms);

  private:
    ModelRunner() = default;
    Result<std::vector<ItemOutput>> run_chunk(std::span<const std::byte* const> items);
    Status decode(const Tensor& output, int count, std::vector<ItemOutput>& out) const;

    ModelConfig config_;
    std::string backend_;
    std::string input_name_;
    Shape item_shape_;  // one item's input shape (without the batch dim)
    size_t item_bytes_ = 0;
    std::vector<int> batch_sizes_;                           // ascending
    std::map<int, std::unique_ptr<Session>> sessions_;       // per batch size
    std::map<int, Tensor> batch_inputs_;                     // per batch size, reused
    std::vector<std::string> charset_;

    Result<std::vector<ItemOutput>> run_frames_chunk(std::span<const FrameItem> items,
                                                     std::span<vision::InputTransform> transforms);
    std::unique_ptr<vision::CudaFrameUploader> uploader_;
    int64_t warmup_uploads_ = 0;  // the black frames of enable_device_path(), not counted
    std::unique_ptr<vision::CudaYoloDecoder> yolo_;
    std::map<std::string, std::unique_ptr<vision::CudaPreprocessor>> preprocessors_;  // per equalization setting
};

}  // namespace fovea::pipeline
