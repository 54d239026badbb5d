#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fovea/npy.h"

namespace fovea {
namespace {

std::string tmp_path(const std::string& name) {
    std::filesystem::create_directories(FOVEA_TEST_TMP);
    return std::string(FOVEA_TEST_TMP) + "/" + name;
}

std::string header(const std::string& dict) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h;
}

TEST(Npy, RoundTripsEveryDTypeAndShape) {
    const std::vector<Shape> shapes = {{}, {5}, {2, 3}, {1, 3, 7, 13}, {0, 4}};
    for (DType dt : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8, DType::kUInt8, DType::kInt32,
                     DType::kInt64, DType::kBool}) {
        for (const Shape& s : shapes) {
            Tensor t(dt, s);
            auto* bytes = static_cast<uint8_t*>(t.raw_data());
            for (size_t i = 0; i < t.nbytes(); ++i)
                bytes[i] = static_cast<uint8_t>(dt == DType::kBool ? i % 2 : i * 37 + 11);
            const std::string path = tmp_path("rt.npy");
            ASSERT_TRUE(write_npy(path, t).is_ok());
            auto back = read_npy(path);
            ASSERT_TRUE(back.is_ok()) << back.status().to_string();
            EXPECT_EQ(back->dtype(), dt);
            EXPECT_EQ(back->shape(), s);
            EXPECT_EQ(std::memcmp(back->raw_data(), t.raw_data(), t.nbytes()), 0);
        }
    }
}

TEST(Npy, ReadsWhatNumpyWrites) {
    // np.save of np.arange(6, dtype='<i4').reshape(2, 3)
    std::string file = header("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }");
    for (int32_t i = 0; i < 6; ++i) file.append(reinterpret_cast<const char*>(&i), 4);
    auto t = parse_npy(file, "arange.npy");
    ASSERT_TRUE(t.is_ok()) << t.status().to_string();
    EXPECT_EQ(t->shape(), (Shape{2, 3}));
    EXPECT_EQ(t->data<int32_t>()[5], 5);
}

TEST(Npy, RejectsFortranOrderBigEndianUnknownDTypeAndTruncation) {
    struct Bad {
        std::string bytes, expect;
    };
    const std::string body(24, '\0');
    const Bad cases[] = {
        {header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }") + body, "Fortran-order"},
        {header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }") + body, "big-endian"},
        {header("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }") + body, "dtype '<c8'"},
        {header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") + body.substr(0, 20),
         "truncated .npy data"},
        {header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }").substr(0, 30), "truncated .npy header"},
        {"not a numpy file at all", "bad magic"},
        {"", "bad magic"},
        {header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }") + body, "malformed shape"},
    };
    for (const Bad& c : cases) {
        auto t = parse_npy(c.bytes, "bad.npy");
        ASSERT_FALSE(t.is_ok()) << c.expect;
        EXPECT_NE(t.status().message().find(c.expect), std::string::npos) << t.status().message();
        EXPECT_EQ(t.status().message().rfind("bad.npy", 0), 0u) << t.status().message();
    }
    EXPECT_EQ(read_npy(tmp_path("does-not-exist.npy")).status().code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace fovea
