// CudaPreprocessor's host side: checks, geometry and chunking; the kernels are in preprocess_cuda.cu, reached
// through the plain launchers of preprocess_device.h (the .cu is C++17 and cannot see fovea's C++20 headers).
#include "vision/preprocess_cuda.h"

#include <algorithm>
#include <string>

#include "vision/preprocess_params.h"

namespace fovea::vision {

namespace {

Status check_image(const DeviceImage& im, size_t i) {
    const std::string where = "CudaPreprocessor: image " + std::to_string(i) + ": ";
    if (im.data == nullptr) return invalid_argument(where + "data is null");
    if (im.width <= 0 || im.height <= 0)
        return invalid_argument(where + "size " + std::to_string(im.width) + "x" + std::to_string(im.height) +
                                " is empty");
    switch (im.format) {
        case media::PixelFormat::kBGR24:
            if (im.pitch < 3 * im.width)
                return invalid_argument(where + "BGR24 pitch " + std::to_string(im.pitch) + " is less than 3 * width " +
                                        std::to_string(im.width));
            return Status::ok();
        case media::PixelFormat::kNV12:
            if (im.pitch < im.width)
                return invalid_argument(where + "NV12 pitch " + std::to_string(im.pitch) + " is less than width " +
                                        std::to_string(im.width));
            if (im.width % 2 != 0 || im.height % 2 != 0)
                return invalid_argument(where + "NV12 size " + std::to_string(im.width) + "x" +
                                        std::to_string(im.height) + " is not even");
            if (im.chroma != nullptr && im.chroma_pitch < im.width)
                return invalid_argument(where + "NV12 chroma pitch " + std::to_string(im.chroma_pitch) +
                                        " is less than width " + std::to_string(im.width));
            return Status::ok();
    }
    return invalid_argument(where + "unknown pixel format");
}

}  // namespace

Result<std::unique_ptr<CudaPreprocessor>> CudaPreprocessor::create(const PreprocessSpec& spec, int max_batch) {
    FOVEA_TRY(validate(spec));
    if (max_batch <= 0)
        return invalid_argument("CudaPreprocessor: max_batch " + std::to_string(max_batch) + " must be positive");
    if (!device::device_available()) return unsupported("CudaPreprocessor: no CUDA device (or no driver)");
    std::unique_ptr<CudaPreprocessor> p(new CudaPreprocessor(spec, max_batch));
    const size_t entries = static_cast<size_t>(max_batch) * static_cast<size_t>(equalize_tiles(spec)) * device::kBins;
    if (entries > 0) {
        void* hist = nullptr;
        void* luts = nullptr;
        if (const char* e = device::device_alloc(&hist, entries * sizeof(uint32_t)))
            return internal_error(std::string("CudaPreprocessor: cudaMalloc of the histograms: ") + e);
        p->histograms_ = static_cast<uint32_t*>(hist);
        if (const char* e = device::device_alloc(&luts, entries))
            return internal_error(std::string("CudaPreprocessor: cudaMalloc of the LUTs: ") + e);
        p->luts_ = static_cast<uint8_t*>(luts);
    }
    return p;
}

CudaPreprocessor::~CudaPreprocessor() {
    device::device_free(histograms_);
    device::device_free(luts_);
}

Status CudaPreprocessor::run(std::span<const DeviceImage> images, std::span<const Rect> rois, void* dst,
                             void* cuda_stream, std::span<InputTransform> transforms) {
    if (rois.size() != images.size() || transforms.size() != images.size())
        return invalid_argument("CudaPreprocessor: " + std::to_string(images.size()) + " images, " +
                                std::to_string(rois.size()) + " rois and " + std::to_string(transforms.size()) +
                                " transforms (one each per item)");
    if (images.size() > static_cast<size_t>(max_batch_))
        return invalid_argument("CudaPreprocessor: " + std::to_string(images.size()) + " images exceed max_batch " +
                                std::to_string(max_batch_));
    if (images.empty()) return Status::ok();
    if (dst == nullptr) return invalid_argument("CudaPreprocessor: the destination is null");

    // Everything is checked before the first launch, so that a bad item leaves no half-written batch behind.
    const size_t item_bytes = input_item_bytes(spec_);
    std::vector<device::ItemParams> items(images.size());
    std::vector<InputTransform> computed(images.size());
    int max_tile_pixels = 0;
    for (size_t i = 0; i < images.size(); ++i) {
        const DeviceImage& im = images[i];
        FOVEA_TRY(check_image(im, i));
        Result<Rect> roi = resolve_roi(rois[i], im.width, im.height);
        if (!roi.is_ok()) return roi.status().with_context("CudaPreprocessor: item " + std::to_string(i));
        void* item_dst = static_cast<uint8_t*>(dst) + i * item_bytes;
        items[i] = make_item_params(spec_, im.data, im.pitch, im.format, im.height, *roi, static_cast<int>(i), item_dst,
                                    im.chroma, im.chroma_pitch);
        computed[i] = make_transform(*roi, place_roi(*roi, spec_));
        max_tile_pixels = std::max(max_tile_pixels, items[i].tile_w * items[i].tile_h);
    }
    // About 8K pixels per histogram block: enough blocks to fill the GPU for one global histogram per 1080p frame.
    const int slices = std::clamp((max_tile_pixels + 8191) / 8192, 1, 1024);

    device::LaunchParams lp{};
    lp.spec = make_spec_params(spec_);
    lp.tiles = equalize_tiles(spec_);
    lp.histograms = histograms_;
    lp.luts = luts_;
    for (size_t first = 0; first < items.size(); first += device::kMaxItemsPerLaunch) {
        const size_t n = std::min(items.size() - first, static_cast<size_t>(device::kMaxItemsPerLaunch));
        lp.count = static_cast<int32_t>(n);
        std::copy_n(items.begin() + static_cast<std::ptrdiff_t>(first), n, lp.items);
        if (const char* e = device::launch_preprocess(lp, slices, cuda_stream))
            return internal_error(std::string("CudaPreprocessor: kernel launch: ") + e);
    }
    std::copy(computed.begin(), computed.end(), transforms.begin());
    return Status::ok();
}

bool cuda_device_available() {
    return device::device_available();
}

}  // namespace fovea::vision
