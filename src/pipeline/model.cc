#include "pipeline/model.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace fovea::pipeline {
namespace {

Result<std::vector<std::byte>> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found(path + ": cannot open the model file");
    in.seekg(0, std::ios::end);
    std::vector<std::byte> bytes(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
        return io_error(path + ": cannot read the model file");
    return bytes;
}

// Runs `run_chunk(first, n)` over consecutive chunks of at most the largest compiled batch, results in order.
template <typename RunChunk>
Result<std::vector<ItemOutput>> chunked(size_t count, size_t largest, RunChunk&& run_chunk) {
    std::vector<ItemOutput> out;
    out.reserve(count);
    for (size_t done = 0; done < count;) {
        const size_t n = std::min(largest, count - done);
        FOVEA_ASSIGN(std::vector<ItemOutput> part, run_chunk(done, n));
        for (ItemOutput& o : part) out.push_back(std::move(o));
        done += n;
    }
    return out;
}

}  // namespace

ModelRunner::~ModelRunner() = default;

Result<std::unique_ptr<ModelRunner>> ModelRunner::load(const ModelConfig& config, const std::string& backend) {
    std::unique_ptr<ModelRunner> m(new ModelRunner());
    m->config_ = config;
    m->backend_ = backend.empty() ? config.backend : backend;
    const std::string where = "model '" + config.name + "' (" + config.path + ")";
    FOVEA_TRY(vision::validate(m->config_.input).with_context(where));
    FOVEA_ASSIGN(std::vector<std::byte> bytes, read_file(config.path));

    SessionOptions probe_options;
    probe_options.backend = "ref";  // only to read the declared inputs; nothing is compiled
    auto probe = Session::load_from_memory(bytes, probe_options);
    if (!probe.is_ok()) return probe.status().with_context(where);
    const std::vector<TensorDesc>& inputs = (*probe)->inputs();
    if (inputs.size() != 1)
        return unsupported(where + ": pipelines run models with one image input; this one has " +
                           std::to_string(inputs.size()));
    const TensorDesc& in = inputs[0];
    if (in.shape.size() != 4) return unsupported(where + ": input '" + in.name + "' is not an image batch (rank 4)");
    m->input_name_ = in.name;

    // Fill the input size from the model where the config left it out; refuse a config that contradicts the model.
    vision::PreprocessSpec& spec = m->config_.input;
    const bool nchw = spec.layout == vision::Layout::kNCHW;
    const int64_t model_c = nchw ? in.shape[1] : in.shape[3];
    const int64_t model_h = nchw ? in.shape[2] : in.shape[1];
    const int64_t model_w = nchw ? in.shape[3] : in.shape[2];
    if (!config.input_size_set) {
        if (model_h > 0) spec.height = static_cast<int>(model_h);
        if (model_w > 0) spec.width = static_cast<int>(model_w);
    }
    if ((model_h > 0 && model_h != spec.height) || (model_w > 0 && model_w != spec.width))
        return invalid_argument(where + ": input '" + in.name + "' is " + shape_to_string(in.shape) +
                                " but the config asks for " + std::to_string(spec.width) + "x" +
                                std::to_string(spec.height));
    const int64_t channels = spec.color == vision::ColorOrder::kGray ? 1 : 3;
    if (model_c > 0 && model_c != channels)
        return invalid_argument(where + ": input '" + in.name + "' has " + std::to_string(model_c) +
                                " channels but the config's color gives " + std::to_string(channels) +
                                " (check 'layout' and 'color')");
    if (in.dtype != spec.dtype)
        return invalid_argument(where + ": input '" + in.name + "' is " + dtype_name(in.dtype) +
                                " but the config's input dtype is " + dtype_name(spec.dtype));
    m->item_shape_ = nchw ? Shape{channels, spec.height, spec.width} : Shape{spec.height, spec.width, channels};
    m->item_bytes_ = vision::input_item_bytes(spec);

    if (in.shape[0] > 0) {
        m->batch_sizes_ = {static_cast<int>(in.shape[0])};
    } else {
        for (int b = 1; b < config.max_batch; b *= 2) m->batch_sizes_.push_back(b);
        m->batch_sizes_.push_back(config.max_batch);
    }
    if (config.output == OutputKind::kCtc) {
        auto charset = vision::load_ctc_charset(config.charset_path, config.charset_use_space);
        if (!charset.is_ok()) return charset.status().with_context(where);
        m->charset_ = std::move(*charset);
    }

    // One session per batch size, compiled now so that the first frames do not pay for it.
    for (int b : m->batch_sizes_) {
        SessionOptions options;
        options.backend = m->backend_;
        options.precision = config.precision;
        options.threads = config.threads;
        Shape shape = m->item_shape_;
        shape.insert(shape.begin(), b);
        options.input_shapes[in.name] = shape;
        auto session = Session::load_from_memory(bytes, options);
        if (!session.is_ok()) return session.status().with_context(where);
        Tensor input(spec.dtype, shape);
        auto warm = (*session)->run({{in.name, input}});
        if (!warm.is_ok()) return warm.status().with_context(where + " at batch " + std::to_string(b));
        if (warm->empty()) return invalid_argument(where + ": the model has no outputs");
        std::vector<ItemOutput> check;
        FOVEA_TRY(m->decode((*warm)[0], b, check).with_context(where));
        m->batch_inputs_[b] = std::move(input);
        m->sessions_[b] = std::move(*session);
    }
    return m;
}

Status ModelRunner::enable_device_path() {
    const bool v5 = config_.output == OutputKind::kYoloV5;
    if (backend_ != "cuda" || (!v5 && config_.output != OutputKind::kYoloV8))
        return unsupported("the GPU-resident path takes YOLO detectors on the cuda backend");
    FOVEA_ASSIGN(uploader_, vision::CudaFrameUploader::create());
    auto yolo = vision::CudaYoloDecoder::create(v5 ? vision::YoloHead::kV5 : vision::YoloHead::kV8, config_.detect,
                                                batch_sizes_.back());
    if (!yolo.is_ok()) {
        uploader_.reset();
        return yolo.status();
    }
    yolo_ = std::move(*yolo);
    // Twice per batch size on a black frame: the first run goes node by node, the second captures the device run's
    // CUDA graph, so that neither happens on live frames; any failure shows here, where the CPU path can take over.
    media::Frame black = media::make_bgr_frame(config_.input.width, config_.input.height);
    std::vector<FrameItem> items;
    Status s = Status::ok();
    for (int b : batch_sizes_) {
        items.assign(static_cast<size_t>(b),
                     FrameItem{&black, vision::Rect{0, 0, black.width, black.height}, &config_.input});
        std::vector<vision::InputTransform> transforms;
        for (int pass = 0; pass < 2 && s.is_ok(); ++pass) s = run_frames(items, transforms).status();
    }
    if (!s.is_ok()) {
        uploader_.reset();
        yolo_.reset();
        preprocessors_.clear();
        return s;
    }
    warmup_uploads_ = uploader_->uploaded_frames();
    return Status::ok();
}

Result<std::vector<ItemOutput>> ModelRunner::run_frames(std::span<const FrameItem> items,
                                                        std::vector<vision::InputTransform>& transforms) {
    if (!device_path()) return internal_error("run_frames: the GPU-resident path is not set up");
    transforms.assign(items.size(), vision::InputTransform{});
    return chunked(items.size(), static_cast<size_t>(batch_sizes_.back()), [&](size_t first, size_t n) {
        return run_frames_chunk(items.subspan(first, n), std::span(transforms).subspan(first, n));
    });
}

Result<std::vector<ItemOutput>> ModelRunner::run_frames_chunk(std::span<const FrameItem> items,
                                                              std::span<vision::InputTransform> transforms) {
    const int count = static_cast<int>(items.size());
    const int b = *std::lower_bound(batch_sizes_.begin(), batch_sizes_.end(), count);
    Session& session = *sessions_.at(b);
    FOVEA_ASSIGN(std::vector<DeviceTensor> inputs, session.device_inputs());
    void* stream = session.device_stream();
    // Frames shared by several ROIs go up once; frames decoded on the GPU do not go up at all (the uploader uses
    // them in place), so a batch may mix NVDEC and host frames.
    std::vector<const media::Frame*> frames;
    std::vector<size_t> frame_of;
    for (const FrameItem& it : items) {
        if (frames.empty() || frames.back() != it.frame) frames.push_back(it.frame);
        frame_of.push_back(frames.size() - 1);
    }
    FOVEA_ASSIGN(std::vector<vision::DeviceImage> images, uploader_->upload(frames, stream));
    // Runs of consecutive items with the same equalization go through one preprocessor launch each. Items past
    // `count` (up to the compiled batch) keep stale inputs; their results are never decoded.
    auto* dst = static_cast<std::byte*>(inputs.at(0).data);
    for (size_t first = 0; first < items.size();) {
        const vision::PreprocessSpec& spec = *items[first].spec;
        size_t last = first + 1;
        while (last < items.size() && items[last].spec->equalize == spec.equalize &&
               items[last].spec->clahe_clip == spec.clahe_clip && items[last].spec->clahe_tile == spec.clahe_tile)
            ++last;
        const std::string key = std::to_string(static_cast<int>(spec.equalize)) + "/" +
                                std::to_string(spec.clahe_clip) + "/" + std::to_string(spec.clahe_tile);
        auto& pre = preprocessors_[key];
        if (!pre) {
            FOVEA_ASSIGN(pre, vision::CudaPreprocessor::create(spec, batch_sizes_.back()));
        }
        std::vector<vision::DeviceImage> part;
        std::vector<vision::Rect> rois;
        for (size_t i = first; i < last; ++i) {
            part.push_back(images[frame_of[i]]);
            rois.push_back(items[i].roi);
        }
        FOVEA_TRY(pre->run(part, rois, dst + first * item_bytes_, stream, transforms.subspan(first, last - first)));
        first = last;
    }
    FOVEA_ASSIGN(std::vector<DeviceTensor> outputs, session.device_run());
    if (outputs.empty()) return invalid_argument("the model has no outputs");
    const DeviceTensor& head = outputs[0];
    if (head.dtype != DType::kFloat32 || head.shape.size() != 3 || head.shape[0] < count)
        return invalid_argument("output " + shape_to_string(head.shape) + " of a " + output_kind_name(config_.output) +
                                " model: expected float32 [N, a, b]");
    FOVEA_ASSIGN(auto dets, yolo_->decode(head.data, head.shape[1], head.shape[2], count, stream));
    std::vector<ItemOutput> out(static_cast<size_t>(count));
    for (size_t i = 0; i < out.size(); ++i) out[i].detections = std::move(dets[i]);
    return out;
}

const std::string& ModelRunner::label(int class_id) const {
    static const std::string kNone;
    if (class_id < 0 || static_cast<size_t>(class_id) >= config_.labels.size()) return kNone;
    return config_.labels[static_cast<size_t>(class_id)];
}

Result<std::vector<ItemOutput>> ModelRunner::run(std::span<const std::byte* const> items) {
    return chunked(items.size(), static_cast<size_t>(batch_sizes_.back()),
                   [&](size_t first, size_t n) { return run_chunk(items.subspan(first, n)); });
}

Result<std::vector<ItemOutput>> ModelRunner::run_chunk(std::span<const std::byte* const> items) {
    // The smallest compiled batch that holds the items; the rest of it is zeros whose results are ignored.
    const int count = static_cast<int>(items.size());
    const int b = *std::lower_bound(batch_sizes_.begin(), batch_sizes_.end(), count);
    Tensor& input = batch_inputs_.at(b);
    auto* dst = static_cast<std::byte*>(input.raw_data());
    for (size_t i = 0; i < items.size(); ++i) std::memcpy(dst + i * item_bytes_, items[i], item_bytes_);
    if (count < b)
        std::memset(dst + static_cast<size_t>(count) * item_bytes_, 0, static_cast<size_t>(b - count) * item_bytes_);
    FOVEA_ASSIGN(std::vector<Tensor> outputs, sessions_.at(b)->run({{input_name_, input}}));
    std::vector<ItemOutput> out;
    FOVEA_TRY(decode(outputs[0], count, out));
    return out;
}

Status ModelRunner::decode(const Tensor& output, int count, std::vector<ItemOutput>& out) const {
    const std::string what = std::string("output ") + shape_to_string(output.shape()) + " of a " +
                             output_kind_name(config_.output) + " model";
    if (output.dtype() != DType::kFloat32) return unsupported(what + ": the output must be float32");
    const Shape& s = output.shape();
    const float* data = output.data<float>();
    out.resize(static_cast<size_t>(count));
    switch (config_.output) {
        case OutputKind::kYoloV5:
        case OutputKind::kYoloV8: {
            if (s.size() != 3 || s[0] < count) return invalid_argument(what + ": expected [N, a, b]");
            const bool v5 = config_.output == OutputKind::kYoloV5;
            const int64_t channels = v5 ? s[2] : s[1];
            if (channels < (v5 ? 6 : 5)) return invalid_argument(what + ": too few channels for boxes and classes");
            const int64_t item = s[1] * s[2];
            for (int i = 0; i < count; ++i) {
                const float* p = data + i * item;
                out[static_cast<size_t>(i)].detections = v5 ? vision::decode_yolov5(p, s[1], s[2], config_.detect)
                                                            : vision::decode_yolov8(p, s[1], s[2], config_.detect);
            }
            return Status::ok();
        }
        case OutputKind::kClassify: {
            if (s.size() != 2 || s[0] < count) return invalid_argument(what + ": expected [N, classes]");
            for (int i = 0; i < count; ++i)
                out[static_cast<size_t>(i)].classes =
                    vision::top_k(data + i * s[1], s[1], config_.top_k, config_.softmax);
            return Status::ok();
        }
        case OutputKind::kCtc: {
            if (s.size() != 3 || s[0] < count) return invalid_argument(what + ": expected [N, steps, charset]");
            if (static_cast<size_t>(s[2]) != charset_.size())
                return invalid_argument(what + ": " + std::to_string(s[2]) + " classes but the charset has " +
                                        std::to_string(charset_.size()) + " (blank + dictionary" +
                                        (config_.charset_use_space ? " + space)" : ")"));
            for (int i = 0; i < count; ++i)
                out[static_cast<size_t>(i)].text =
                    vision::ctc_greedy_decode(data + i * s[1] * s[2], s[1], s[2], charset_);
            return Status::ok();
        }
        case OutputKind::kDbText: {
            if (s.size() != 4 || s[0] < count || s[1] != 1) return invalid_argument(what + ": expected [N, 1, H, W]");
            const int h = static_cast<int>(s[2]), w = static_cast<int>(s[3]);
            for (int i = 0; i < count; ++i) {
                // Text quads become upright boxes of class 0: what rules, crops and cascades work with.
                for (const vision::TextBox& t :
                     vision::db_text_boxes(data + static_cast<int64_t>(i) * h * w, h, w, config_.db_threshold,
                                           config_.db_box_threshold, config_.db_unclip_ratio)) {
                    vision::Detection d{{t.points[0], t.points[1], t.points[0], t.points[1]}, t.score, 0};
                    for (size_t p = 0; p < 8; p += 2) {
                        d.box.x1 = std::min(d.box.x1, t.points[p]);
                        d.box.x2 = std::max(d.box.x2, t.points[p]);
                        d.box.y1 = std::min(d.box.y1, t.points[p + 1]);
                        d.box.y2 = std::max(d.box.y2, t.points[p + 1]);
                    }
                    out[static_cast<size_t>(i)].detections.push_back(d);
                }
            }
            return Status::ok();
        }
    }
    return internal_error("unknown output kind");
}

}  // namespace fovea::pipeline
