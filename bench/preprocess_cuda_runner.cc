#include "preprocess_cuda_runner.h"

#include <memory>
#include <vector>

#include "vision/preprocess_cuda.h"

namespace fovea::bench {

struct PreprocessRunner {
    std::unique_ptr<vision::CudaPreprocessor> pre;
    std::vector<vision::DeviceImage> images;
    std::vector<vision::Rect> rois;
    std::vector<vision::InputTransform> transforms;
};

PreprocessRunner* create_letterbox_runner(int width, int height, bool fp16, int max_batch, std::string& error) {
    vision::PreprocessSpec spec;
    spec.width = width;
    spec.height = height;
    spec.resize = vision::ResizeMode::kLetterbox;
    spec.layout = vision::Layout::kNCHW;
    spec.dtype = fp16 ? DType::kFloat16 : DType::kFloat32;
    Result<std::unique_ptr<vision::CudaPreprocessor>> pre = vision::CudaPreprocessor::create(spec, max_batch);
    if (!pre.is_ok()) {
        error = pre.status().to_string();
        return nullptr;
    }
    auto* r = new PreprocessRunner;
    r->pre = std::move(pre).value();
    return r;
}

std::size_t runner_item_bytes(const PreprocessRunner* runner) {
    return vision::input_item_bytes(runner->pre->spec());
}

bool runner_run(PreprocessRunner* runner, const unsigned char* const* frames, int count, int width, int height,
                int pitch, bool nv12, void* dst, void* stream, std::string& error) {
    runner->images.clear();
    const media::PixelFormat format = nv12 ? media::PixelFormat::kNV12 : media::PixelFormat::kBGR24;
    for (int i = 0; i < count; ++i) runner->images.push_back({frames[i], width, height, pitch, format});
    runner->rois.assign(static_cast<size_t>(count), vision::Rect{});
    runner->transforms.resize(static_cast<size_t>(count));
    const Status s = runner->pre->run(runner->images, runner->rois, dst, stream, runner->transforms);
    if (!s.is_ok()) error = s.to_string();
    return s.is_ok();
}

void destroy_runner(PreprocessRunner* runner) {
    delete runner;
}

}  // namespace fovea::bench
