// The concrete sources behind make_source, and the helpers they share. Internal to src/media.
#pragma once

#include <memory>
#include <string>

#include "media/source.h"

namespace fovea::media::detail {

enum class SourceKind { kFile, kRtsp, kRtmp, kHttp, kV4l2, kImages, kSynthetic };

const char* kind_name(SourceKind kind);

// The uri with any password replaced by "***", for messages and logs.
std::string redact_uri(const std::string& uri);

// "source 'cam3' (rtsp://host/x)": how messages name a source.
std::string source_label(const SourceSpec& spec);

// Frames per second for images/synthetic sources (the spec's fps, or 25).
double effective_fps(const SourceSpec& spec);

std::unique_ptr<Source> make_av_source(const SourceSpec& spec, SourceKind kind);
std::unique_ptr<Source> make_image_folder_source(const SourceSpec& spec);
std::unique_ptr<Source> make_synthetic_source(const SourceSpec& spec);

}  // namespace fovea::media::detail
