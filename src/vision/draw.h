// Drawing detections onto frames (for debugging sinks and snapshots): boxes and labels with per-class colours.
#pragma once

#include <span>
#include <string>

#include "media/frame.h"
#include "vision/postprocess.h"

namespace fovea::vision {

// Draws each detection's box and "label score" onto a BGR24 frame (other formats are left untouched and false is
// returned). labels[class_id] names a class; ids past the span print as numbers. highlight draws thicker boxes
// (e.g. for detections that triggered a rule). The frame's pixels are modified in place, shared copies included.
// A BGR24 copy of a frame (NV12 converted; a frame decoded on the GPU is downloaded once, media::host_frame), for
// drawing without touching the original. Empty when the frame has no picture or its download failed.
media::Frame to_bgr_copy(const media::Frame& frame);

bool draw_detections(media::Frame& frame, std::span<const Detection> dets, std::span<const std::string> labels,
                     bool highlight = false);

}  // namespace fovea::vision
