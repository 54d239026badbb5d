#include "backends/cuda/engine_cache.h"

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/cache_dir.h"

namespace fovea::cuda {

namespace {

constexpr char kMagic[8] = {'F', 'O', 'V', 'E', 'A', 'E', 'N', 'G'};
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;

uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

template <typename T>
void put(std::string& out, T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.append(b, sizeof(T));
}

template <typename T>
T get(std::string_view in, size_t at) {
    T v;
    std::memcpy(&v, in.data() + at, sizeof(T));
    return v;
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t bytes, uint64_t seed) {
    // Eight bytes per step: weights of 100 MB hash in tens of milliseconds.
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h = mix(seed ^ (bytes * 0x9e3779b97f4a7c15ULL));
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = (h ^ (w * 0x87c37b91114253d5ULL)) * 0x4cf5ad432745937fULL;
        h = (h << 31) | (h >> 33);
    }
    uint64_t tail = 0;
    for (size_t k = 0; i + k < bytes; ++k) tail |= static_cast<uint64_t>(p[i + k]) << (8 * k);
    return mix(h ^ tail);
}

std::string hex64(uint64_t v) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
    return b;
}

std::string engine_key(const EngineKeyParts& k) {
    std::ostringstream s;
    s << "model=" << hex64(k.model_digest) << " gpu=" << k.gpu << " sm=" << k.cc_major << k.cc_minor
      << " cudart=" << k.cuda_runtime << " driver=" << k.cuda_driver << " cudnn=" << k.cudnn << " cublas=" << k.cublas
      << " precision=" << k.precision << " nhwc=" << (k.nhwc ? 1 : 0) << " format=" << kEngineCacheVersion;
    std::string line = s.str();
    for (char& c : line)
        if (c == '\n' || c == '\t') c = ' ';
    return line;
}

std::filesystem::path engine_cache_dir() {
    return cache_dir() / "engines";
}

std::filesystem::path engine_cache_file(const std::filesystem::path& dir, const std::string& key) {
    return dir / (hex64(hash_bytes(key.data(), key.size())) + ".engine");
}

std::string serialize_engine_record(const EngineRecord& record) {
    std::string payload = record.key + "\n";
    for (const auto& [signature, c] : record.convs)
        payload += signature + "\t" + std::to_string(c.algo) + "\t" + std::to_string(c.math) + "\t" +
                   std::to_string(c.workspace) + "\t" + (c.fused ? "1" : "0") + "\t" + std::to_string(c.graph) + "\t" +
                   std::to_string(c.graph_workspace) + "\n";
    std::string out(kMagic, sizeof kMagic);
    put<uint32_t>(out, kEngineCacheVersion);
    put<uint32_t>(out, 0);
    put<uint64_t>(out, payload.size());
    put<uint64_t>(out, hash_bytes(payload.data(), payload.size()));
    return out + payload;
}

Result<EngineRecord> parse_engine_record(std::string_view bytes, const std::string& expected_key) {
    if (bytes.size() < kHeaderBytes) return invalid_argument("engine cache: truncated header");
    if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return invalid_argument("engine cache: bad magic");
    if (const auto v = get<uint32_t>(bytes, 8); v != kEngineCacheVersion)
        return invalid_argument("engine cache: format version " + std::to_string(v) + ", expected " +
                                std::to_string(kEngineCacheVersion));
    const auto size = get<uint64_t>(bytes, 16);
    if (size != bytes.size() - kHeaderBytes)
        return invalid_argument("engine cache: payload size mismatch (truncated?)");
    const std::string_view payload = bytes.substr(kHeaderBytes);
    if (get<uint64_t>(bytes, 24) != hash_bytes(payload.data(), payload.size()))
        return invalid_argument("engine cache: checksum mismatch");
    EngineRecord record;
    size_t at = payload.find('\n');
    if (at == std::string_view::npos) return invalid_argument("engine cache: no key line");
    record.key = std::string(payload.substr(0, at));
    if (record.key != expected_key) return invalid_argument("engine cache: key mismatch (stale)");
    for (size_t begin = at + 1; begin < payload.size();) {
        const size_t end = payload.find('\n', begin);
        if (end == std::string_view::npos) return invalid_argument("engine cache: unterminated line");
        const std::string line(payload.substr(begin, end - begin));
        begin = end + 1;
        std::istringstream fields(line);
        std::string signature, algo, math, workspace, fused, graph, graph_workspace;
        if (!std::getline(fields, signature, '\t') || !std::getline(fields, algo, '\t') ||
            !std::getline(fields, math, '\t') || !std::getline(fields, workspace, '\t') ||
            !std::getline(fields, fused, '\t') || !std::getline(fields, graph, '\t') ||
            !std::getline(fields, graph_workspace) || signature.empty() || (fused != "0" && fused != "1"))
            return invalid_argument("engine cache: malformed line '" + line + "'");
        ConvChoice c;
        char* rest = nullptr;
        c.algo = static_cast<int>(std::strtol(algo.c_str(), &rest, 10));
        if (algo.empty() || *rest) return invalid_argument("engine cache: bad algorithm in '" + line + "'");
        c.math = static_cast<int>(std::strtol(math.c_str(), &rest, 10));
        if (math.empty() || *rest) return invalid_argument("engine cache: bad math type in '" + line + "'");
        c.workspace = std::strtoull(workspace.c_str(), &rest, 10);
        if (workspace.empty() || *rest) return invalid_argument("engine cache: bad workspace in '" + line + "'");
        c.fused = fused == "1";
        c.graph = static_cast<int>(std::strtol(graph.c_str(), &rest, 10));
        if (graph.empty() || *rest || c.graph < -1)
            return invalid_argument("engine cache: bad graph engine in '" + line + "'");
        c.graph_workspace = std::strtoull(graph_workspace.c_str(), &rest, 10);
        if (graph_workspace.empty() || *rest || graph_workspace[0] == '-')
            return invalid_argument("engine cache: bad graph workspace in '" + line + "'");
        record.convs[signature] = c;
    }
    return record;
}

Status save_engine_record(const std::filesystem::path& path, const EngineRecord& record) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return io_error("engine cache: cannot create " + path.parent_path().string() + ": " + ec.message());
    const std::filesystem::path temp = path.string() + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        const std::string bytes = serialize_engine_record(record);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) return io_error("engine cache: cannot write " + temp.string());
    }
    std::filesystem::rename(temp, path, ec);
    if (ec) {
        std::filesystem::remove(temp, ec);
        return io_error("engine cache: cannot rename into " + path.string());
    }
    return Status::ok();
}

Result<EngineRecord> load_engine_record(const std::filesystem::path& path, const std::string& expected_key) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found("engine cache: no file " + path.string());
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return parse_engine_record(bytes.str(), expected_key);
}

}  // namespace fovea::cuda
