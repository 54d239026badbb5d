// The engine cache: what an engine build chose (per convolution: legacy algorithm, math type, workspace, whether
// cuDNN's fused call took it, or which graph-API engine candidate won), saved under a key made of everything those
// choices depend on, so that the next session creation skips cuDNN's algorithm search. Plain C++ (no CUDA headers): the
// file logic is tested without a GPU.
//
// File: "FOVEAENG" magic, format version (u32), reserved (u32), payload size (u64), payload checksum (u64), payload.
// Payload: the key line, then one tab-separated line per convolution. A file whose header, size, checksum or key
// does not match is rejected (and rebuilt by the caller), never trusted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "fovea/status.h"

namespace fovea::cuda {

// 4: a graph-API choice for a convolution whose activation the graph does not fuse means convolution, bias and
// residual through the graph API, the activation after it (a format 3 file may name a candidate of another graph).
constexpr uint32_t kEngineCacheVersion = 4;

struct ConvChoice {
    int algo = 0;
    int math = 0;
    uint64_t workspace = 0;
    bool fused = false;
    int graph = -1;                // >= 0: the convolution runs through the graph API, this candidate of its heuristics
    uint64_t graph_workspace = 0;  // that plan's workspace: a cached build sizes the workspace before it compiles
    bool operator==(const ConvChoice&) const = default;
};

struct EngineRecord {
    std::string key;                          // one line; see engine_key
    std::map<std::string, ConvChoice> convs;  // by convolution signature (one line, no tabs)
};

// A 64-bit hash of bytes, chained through `seed` (not cryptographic: it names files and detects damage).
uint64_t hash_bytes(const void* data, size_t bytes, uint64_t seed = 0);
std::string hex64(uint64_t v);

// What the choices depend on, as one line: the model's digest (structure, bound shapes and weights), the GPU's name
// and compute capability, CUDA runtime, driver, cuDNN and cuBLAS versions, precision, and layout policy.
struct EngineKeyParts {
    uint64_t model_digest = 0;
    std::string gpu;  // device name
    int cc_major = 0, cc_minor = 0;
    int cuda_runtime = 0, cuda_driver = 0;
    size_t cudnn = 0;
    int cublas = 0;
    std::string precision;
    bool nhwc = false;
};
std::string engine_key(const EngineKeyParts& parts);

// $FOVEA_CACHE_DIR/engines, else $XDG_CACHE_HOME/fovea/engines, else ~/.cache/fovea/engines.
std::filesystem::path engine_cache_dir();
// The file for `key` in `dir`.
std::filesystem::path engine_cache_file(const std::filesystem::path& dir, const std::string& key);

std::string serialize_engine_record(const EngineRecord& record);
// The record in `bytes`, or an error saying what is wrong (magic, version, size, checksum, key, syntax).
Result<EngineRecord> parse_engine_record(std::string_view bytes, const std::string& expected_key);

// Written to a temporary file next to `path`, then renamed over it: readers never see half a file.
Status save_engine_record(const std::filesystem::path& path, const EngineRecord& record);
// not_found when there is no file; other errors for a file that must be rebuilt.
Result<EngineRecord> load_engine_record(const std::filesystem::path& path, const std::string& expected_key);

}  // namespace fovea::cuda
