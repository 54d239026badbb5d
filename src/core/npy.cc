#include "fovea/npy.h"

#include <fstream>
#include <sstream>

namespace fovea {

namespace {

// The descr strings fovea reads and writes; '|' (no byte order) and '<' (little-endian) are both accepted on read.
struct NpyType {
    const char* descr;
    DType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {"f4", DType::kFloat32}, {"f8", DType::kFloat64}, {"f2", DType::kFloat16}, {"i1", DType::kInt8},
    {"u1", DType::kUInt8},   {"i4", DType::kInt32},   {"i8", DType::kInt64},   {"b1", DType::kBool},
};

// Finds `'key': value` in the header dict and returns the raw value text (up to the next top-level comma or brace).
Result<std::string> header_field(const std::string& header, const std::string& key, const std::string& what) {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) return invalid_argument(what + ": .npy header has no '" + key + "' field");
    size_t p = header.find(':', k);
    if (p == std::string::npos) return invalid_argument(what + ": malformed .npy header");
    ++p;
    while (p < header.size() && header[p] == ' ') ++p;
    int depth = 0;
    size_t e = p;
    for (; e < header.size(); ++e) {
        const char c = header[e];
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if (depth == 0 && (c == ',' || c == '}')) break;
    }
    return header.substr(p, e - p);
}

}  // namespace

Result<Tensor> parse_npy(std::string_view bytes, const std::string& what) {
    static constexpr char kMagic[] = "\x93NUMPY";
    if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view(kMagic, 6))
        return invalid_argument(what + ": not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(bytes[6]);
    size_t header_len = 0, offset = 0;
    if (major == 1) {
        header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
        offset = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) return invalid_argument(what + ": truncated .npy header");
        for (int i = 0; i < 4; ++i)
            header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        offset = 12;
    } else {
        return unsupported(what + ": .npy format version " + std::to_string(major) + " is not supported");
    }
    if (bytes.size() < offset + header_len) return invalid_argument(what + ": truncated .npy header");
    const std::string header(bytes.substr(offset, header_len));

    FOVEA_ASSIGN(std::string descr, header_field(header, "descr", what));
    FOVEA_ASSIGN(std::string order, header_field(header, "fortran_order", what));
    FOVEA_ASSIGN(std::string shape_text, header_field(header, "shape", what));
    if (order != "False") return unsupported(what + ": Fortran-order .npy arrays are not supported (save in C order)");
    if (descr.size() < 4 || descr.front() != '\'' || descr.back() != '\'')
        return invalid_argument(what + ": malformed dtype " + descr);
    descr = descr.substr(1, descr.size() - 2);
    if (descr[0] == '>') return unsupported(what + ": big-endian .npy data ('" + descr + "') is not supported");
    const NpyType* type = nullptr;
    for (const NpyType& t : kNpyTypes)
        if ((descr[0] == '<' || descr[0] == '|') && descr.substr(1) == t.descr) type = &t;
    if (!type) return unsupported(what + ": .npy dtype '" + descr + "' is not supported");

    if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
        return invalid_argument(what + ": malformed shape " + shape_text);
    Shape shape;
    std::stringstream ss(shape_text.substr(1, shape_text.size() - 2));
    std::string item;
    while (std::getline(ss, item, ',')) {
        const size_t b = item.find_first_not_of(' ');
        if (b == std::string::npos) continue;
        try {
            size_t used = 0;
            const long long d = std::stoll(item.substr(b), &used);
            if (d < 0 || item.find_first_not_of(' ', b + used) != std::string::npos) throw std::invalid_argument(item);
            shape.push_back(d);
        } catch (const std::exception&) {
            return invalid_argument(what + ": malformed shape " + shape_text);
        }
    }
    const size_t data_offset = offset + header_len;
    const size_t expected = static_cast<size_t>(shape_numel(shape)) * dtype_size(type->dtype);
    if (bytes.size() - data_offset < expected)
        return invalid_argument(what + ": truncated .npy data: " + std::to_string(bytes.size() - data_offset) +
                                " bytes, " + std::to_string(expected) + " expected for " + descr +
                                shape_to_string(shape));
    Tensor t(type->dtype, shape);
    if (expected) std::memcpy(t.raw_data(), bytes.data() + data_offset, expected);
    return t;
}

Result<Tensor> read_npy(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return io_error("cannot open '" + path + "'");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return parse_npy(buffer.str(), path);
}

Status write_npy(const std::string& path, const Tensor& t) {
    const char* descr = nullptr;
    for (const NpyType& nt : kNpyTypes)
        if (nt.dtype == t.dtype()) descr = nt.descr;
    if (!descr) return unsupported(std::string("writing ") + dtype_name(t.dtype()) + " to .npy is not supported");
    std::string shape = "(";
    for (int64_t i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.dim(i));
    shape += t.rank() == 1 ? ",)" : ")";
    const char order = dtype_size(t.dtype()) == 1 ? '|' : '<';
    std::string header =
        "{'descr': '" + std::string(1, order) + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    // Pad so that data starts on a 64-byte boundary, as NumPy does.
    const size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    if (!out) return io_error("cannot write '" + path + "'");
    const uint16_t len = static_cast<uint16_t>(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    out.put(static_cast<char>(len & 0xff));
    out.put(static_cast<char>(len >> 8));
    out << header;
    out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    if (!out) return io_error("failed writing '" + path + "'");
    return Status::ok();
}

}  // namespace fovea
