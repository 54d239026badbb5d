// The engine cache: key, file format and its validation run everywhere (no GPU needed); reuse and rejection of a
// damaged file on a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/engine_cache.h"
#include "fovea/session.h"

namespace fovea::cuda {
namespace {

namespace fs = std::filesystem;

EngineKeyParts sample_parts() {
    EngineKeyParts k;
    k.model_digest = 0x1234;
    k.gpu = "NVIDIA H200";
    k.cc_major = 9;
    k.cc_minor = 0;
    k.cuda_runtime = 13000;
    k.cuda_driver = 13000;
    k.cudnn = 91900;
    k.cublas = 130100;
    k.precision = "fp16";
    k.nhwc = true;
    return k;
}

EngineRecord sample_record() {
    EngineRecord r;
    r.key = engine_key(sample_parts());
    r.convs["conv1|Conv|x[1,3,224,224]|nhwc|f16"] = {1, 1, 4096, true};
    r.convs["layer1.0|FusedConv|x[1,64,56,56]|nhwc|f16|sum"] = {6, 2, 0, false};
    r.convs["layer1.1|FusedConv|x[1,64,56,56]|nhwc|f16"] = {0, 0, 1 << 20, false, 3, 1 << 16};  // a graph-API engine
    return r;
}

fs::path fresh_dir(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("fovea_engine_cache_" + name + std::to_string(::getpid()));
    fs::remove_all(dir);
    return dir;
}

TEST(EngineCacheKey, changes_with_every_part_and_names_a_stable_file) {
    const EngineKeyParts base = sample_parts();
    const std::string key = engine_key(base);
    EXPECT_EQ(key, engine_key(base));
    EXPECT_EQ(key.find('\n'), std::string::npos);
    std::vector<EngineKeyParts> variants(10, base);
    variants[0].model_digest = 0x1235;
    variants[1].gpu = "NVIDIA H100 80GB HBM3";
    variants[2].cc_major = 8;
    variants[3].cc_minor = 7;
    variants[4].cuda_runtime = 12080;
    variants[5].cuda_driver = 12090;
    variants[6].cudnn = 91400;
    variants[7].cublas = 130000;
    variants[8].precision = "tf32";
    variants[9].nhwc = false;
    for (const EngineKeyParts& v : variants) EXPECT_NE(engine_key(v), key);
    EXPECT_EQ(engine_cache_file("/d", key), engine_cache_file("/d", key));
    EXPECT_NE(engine_cache_file("/d", key), engine_cache_file("/d", engine_key(variants[0])));
}

TEST(EngineCacheKey, hash_depends_on_every_byte_and_the_seed) {
    std::vector<unsigned char> bytes(1001);
    std::mt19937 rng(7);
    for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    const uint64_t h = hash_bytes(bytes.data(), bytes.size());
    EXPECT_NE(h, hash_bytes(bytes.data(), bytes.size(), 1));
    EXPECT_NE(h, hash_bytes(bytes.data(), bytes.size() - 1));
    for (size_t i : {size_t(0), size_t(7), size_t(8), size_t(999), size_t(1000)}) {
        bytes[i] ^= 1;
        EXPECT_NE(h, hash_bytes(bytes.data(), bytes.size())) << "byte " << i;
        bytes[i] ^= 1;
    }
}

TEST(EngineCacheFile, round_trips) {
    const EngineRecord r = sample_record();
    auto parsed = parse_engine_record(serialize_engine_record(r), r.key);
    ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
    EXPECT_EQ(parsed->key, r.key);
    EXPECT_EQ(parsed->convs, r.convs);
}

TEST(EngineCacheFile, rejects_every_truncation) {
    const EngineRecord r = sample_record();
    const std::string bytes = serialize_engine_record(r);
    for (size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(parse_engine_record(std::string_view(bytes).substr(0, n), r.key).is_ok()) << n << " bytes";
    EXPECT_FALSE(parse_engine_record(bytes + "x", r.key).is_ok());
}

TEST(EngineCacheFile, rejects_any_flipped_byte_bad_magic_version_and_stale_key) {
    const EngineRecord r = sample_record();
    const std::string bytes = serialize_engine_record(r);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i >= 12 && i < 16) continue;  // the reserved word is not checked
        std::string bad = bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        EXPECT_FALSE(parse_engine_record(bad, r.key).is_ok()) << "byte " << i;
    }
    std::string magic = bytes;
    magic[0] = 'X';
    EXPECT_NE(parse_engine_record(magic, r.key).status().message().find("magic"), std::string::npos);
    std::string version = bytes;
    version[8] = static_cast<char>(kEngineCacheVersion + 1);
    EXPECT_NE(parse_engine_record(version, r.key).status().message().find("version"), std::string::npos);
    EngineKeyParts other = sample_parts();
    other.cudnn = 91901;
    EXPECT_NE(parse_engine_record(bytes, engine_key(other)).status().message().find("stale"), std::string::npos);
}

TEST(EngineCacheFile, rejects_malformed_lines_even_with_a_valid_checksum) {
    EngineRecord r = sample_record();
    r.convs["conv2"] = {1, 1, 0, false};
    std::string bytes = serialize_engine_record(r);
    // Re-serialize by hand with a broken line and a checksum that matches it.
    const std::string payload = r.key + "\nconv2\tone\t1\t0\t0\t-1\t0\n";
    EngineRecord probe;
    probe.key = r.key;
    std::string good = serialize_engine_record(probe);
    std::string header = good.substr(0, 16);
    uint64_t size = payload.size(), sum = hash_bytes(payload.data(), payload.size());
    header.append(reinterpret_cast<const char*>(&size), 8);
    header.append(reinterpret_cast<const char*>(&sum), 8);
    auto parsed = parse_engine_record(header + payload, r.key);
    ASSERT_FALSE(parsed.is_ok());
    EXPECT_NE(parsed.status().message().find("bad algorithm"), std::string::npos) << parsed.status().to_string();

    // A graph-API engine index below -1 or not a number is as bad, and so is a graph workspace that is not a count;
    // a line without the graph workspace (format 2) is malformed.
    auto reject = [&](const std::string& fields, const std::string& why) {
        const std::string bad = r.key + "\nconv2\t1\t1\t0\t0\t" + fields + "\n";
        std::string head = good.substr(0, 16);
        const uint64_t bad_size = bad.size(), bad_sum = hash_bytes(bad.data(), bad.size());
        head.append(reinterpret_cast<const char*>(&bad_size), 8);
        head.append(reinterpret_cast<const char*>(&bad_sum), 8);
        auto rejected = parse_engine_record(head + bad, r.key);
        ASSERT_FALSE(rejected.is_ok()) << "fields '" << fields << "'";
        EXPECT_NE(rejected.status().message().find(why), std::string::npos) << rejected.status().to_string();
    };
    for (const std::string graph : {"-2", "x", ""}) reject(graph + "\t0", "bad graph engine");
    for (const std::string bytes : {"-1", "y"}) reject("2\t" + bytes, "bad graph workspace");
    for (const std::string fields : {"2\t", "2"}) reject(fields, "malformed");
}

TEST(EngineCacheFile, saves_atomically_and_loads_or_says_not_found) {
    const fs::path dir = fresh_dir("io");
    const EngineRecord r = sample_record();
    const fs::path file = engine_cache_file(dir / "engines", r.key);
    auto missing = load_engine_record(file, r.key);
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    ASSERT_TRUE(save_engine_record(file, r).is_ok());
    auto loaded = load_engine_record(file, r.key);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
    EXPECT_EQ(loaded->convs, r.convs);
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(file.parent_path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1u);  // no temporary left behind
    fs::resize_file(file, fs::file_size(file) - 3);
    auto truncated = load_engine_record(file, r.key);
    EXPECT_FALSE(truncated.is_ok());
    EXPECT_NE(truncated.status().code(), StatusCode::kNotFound);
    fs::remove_all(dir);
}

TEST(EngineCacheFile, directory_follows_the_cache_environment) {
    const char* old = std::getenv("FOVEA_CACHE_DIR");
    const std::string saved = old ? old : "";
    ::setenv("FOVEA_CACHE_DIR", "/x/cache", 1);
    EXPECT_EQ(engine_cache_dir(), fs::path("/x/cache/engines"));
    if (old)
        ::setenv("FOVEA_CACHE_DIR", saved.c_str(), 1);
    else
        ::unsetenv("FOVEA_CACHE_DIR");
}

// On a GPU: the second session creation reuses the first's choices (no cuDNN search) and computes the same
// outputs; a damaged file is rejected and rewritten.
TEST(EngineCacheGpu, second_build_reuses_choices_and_a_damaged_file_is_rebuilt) {
    if (Status usable = cuda_usable(); !usable.is_ok()) GTEST_SKIP() << "no CUDA device: " << usable.message();
    const char* zoo = std::getenv("FOVEA_ZOO_DIR");
    const fs::path model = fs::path(zoo && *zoo ? zoo : FOVEA_ZOO_DEFAULT_DIR) / "resnet50" / "model.onnx";
    if (!fs::exists(model)) GTEST_SKIP() << "no zoo model at " << model;
    const fs::path dir = fresh_dir("gpu");
    const char* old = std::getenv("FOVEA_CACHE_DIR");
    const std::string saved = old ? old : "";
    ::setenv("FOVEA_CACHE_DIR", dir.c_str(), 1);
    SessionOptions options{.backend = "cuda", .precision = "fp16"};
    options.input_shapes["input"] = {2, 3, 224, 224};
    Tensor x(DType::kFloat32, {2, 3, 224, 224});
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (float& v : x.span<float>()) v = u(rng);
    std::map<std::string, Tensor> inputs;
    auto run_once = [&](bool expect_hit) -> Tensor {
        auto s = Session::load(model.string(), options);
        EXPECT_TRUE(s.is_ok()) << s.status().to_string();
        if (!s.is_ok()) return {};
        inputs.clear();
        inputs.emplace((*s)->inputs()[0].name, x);
        auto out = (*s)->run(inputs);
        EXPECT_TRUE(out.is_ok()) << out.status().to_string();
        EXPECT_EQ(last_run().cache_hit, expect_hit);
        return out.is_ok() ? (*out)[0] : Tensor();
    };
    const Tensor cold = run_once(false);
    const Tensor warm = run_once(true);
    ASSERT_TRUE(cold.defined() && warm.defined());
    for (int64_t i = 0; i < cold.numel(); ++i) ASSERT_EQ(cold.element_as_double(i), warm.element_as_double(i)) << i;
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir / "engines")) {
        ++files;
        std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(40);
        f.put('#');
    }
    EXPECT_EQ(files, 1u);
    run_once(false);  // damaged: rejected, searched again, rewritten
    run_once(true);
    if (old)
        ::setenv("FOVEA_CACHE_DIR", saved.c_str(), 1);
    else
        ::unsetenv("FOVEA_CACHE_DIR");
    fs::remove_all(dir);
}

}  // namespace
}  // namespace fovea::cuda
