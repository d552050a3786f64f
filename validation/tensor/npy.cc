#include "validation/tensor/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "validation/input/allocation_limit.h"
#include "validation/input/input_file.h"
#include "validation/tensor/formats.h"

namespace ttt {
namespace {

// .npy stores little-endian data and we copy it as is.
static_assert(std::endian::native == std::endian::little, "npy.cc assumes a little-endian host");

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kVersion1PreambleBytes = 10;  // magic, 2 version bytes, uint16 length.
constexpr std::size_t kVersion2PreambleBytes = 12;  // magic, 2 version bytes, uint32 length.
constexpr std::size_t kHeaderAlignment = 64;        // np.save aligns the data to 64 bytes.

// The element types we read, with their numpy type strings.
enum class NpyType : std::uint8_t { f2, f4, f8, i4, i8 };

struct NpyTypeInfo {
  std::string_view descr;
  NpyType type;
  std::size_t item_size;
  DType dtype;  // What the tensor holds after reading.
};

constexpr NpyTypeInfo kTypes[] = {
    {"<f2", NpyType::f2, 2, DType::float16}, {"<f4", NpyType::f4, 4, DType::float32},
    {"<f8", NpyType::f8, 8, DType::float64}, {"<i4", NpyType::i4, 4, DType::int32},
    {"<i8", NpyType::i8, 8, DType::int64},
};

// Everything the header says about the array.
struct Layout {
  NpyTypeInfo type;
  Shape shape;
  std::int64_t numel = 0;
  std::uint64_t data_offset = 0;  // Bytes from the start of the file to the first element.
  std::uint64_t data_bytes = 0;
};

// The most elements the nonzero dimensions of a .npy shape may multiply to, so that the array's
// bytes fit in int64 for the widest element type (8 bytes). numpy refuses a shape past its own
// bound even when a zero dimension leaves it empty, so we do too, on reading and on writing; the
// bound does not depend on the dtype because a '<f2' file is written back as '<f4'.
constexpr std::int64_t kMaxNonzeroElements = std::numeric_limits<std::int64_t>::max() / 8;

// Why a .npy file cannot declare `shape` ("shape [...] is too large: ..."), or "" when it can.
// REQUIRES: no negative dimension.
std::string shape_problem(const Shape& shape) {
  std::int64_t product = 1;
  for (std::int64_t dim : shape) {
    if (dim == 0) continue;
    if (product > kMaxNonzeroElements / dim) {
      return "shape " + shape_to_string(shape) +
             " is too large: its nonzero dimensions multiply to 2^60 elements or more";
    }
    product *= dim;
  }
  return "";
}

// Throws the one-line error every failure produces: "[operation] file: what".
[[noreturn]] void fail(std::string_view operation, const std::string& name,
                       const std::string& what) {
  throw std::runtime_error("[" + std::string(operation) + "] " + name + ": " + what);
}

// A tiny parser for the header, a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view operation, const std::string& name)
      : text_(text), operation_(operation), name_(name) {}

  Layout parse() {
    std::string descr;
    bool fortran_order = false;
    Shape shape;
    bool has_descr = false, has_fortran_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string("a dictionary key");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() == '[') {
          fail(operation_, name_,
               "structured arrays are not supported (the header's descr is a list of fields)");
        }
        descr = parse_string("the descr value");
        has_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = parse_bool();
        has_fortran_order = true;
      } else if (key == "shape") {
        shape = parse_shape();
        has_shape = true;
      } else {
        fail(operation_, name_, "corrupt header: unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') error("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after the closing '}'");
    if (!has_descr || !has_fortran_order || !has_shape) {
      fail(operation_, name_,
           std::string("corrupt header: missing key '") +
               (!has_descr           ? "descr"
                : !has_fortran_order ? "fortran_order"
                                     : "shape") +
               "'");
    }
    if (fortran_order) {
      fail(operation_, name_,
           "Fortran-order arrays are not supported (save a C-order array: "
           "np.save(path, np.ascontiguousarray(a)))");
    }
    Layout layout;
    layout.type = resolve_type(descr);
    if (shape.size() > static_cast<std::size_t>(kMaxRank)) {
      fail(operation_, name_,
           "rank " + std::to_string(shape.size()) + " exceeds the maximum of " +
               std::to_string(kMaxRank) + " (shape " + shape_to_string(shape) + ")");
    }
    if (const std::string problem = shape_problem(shape); !problem.empty()) {
      fail(operation_, name_, problem);
    }
    // At most kMaxNonzeroElements: neither this product nor the byte count below overflows.
    std::int64_t numel = 1;
    for (std::int64_t dim : shape) numel *= dim;
    layout.shape = std::move(shape);
    layout.numel = numel;
    layout.data_bytes = static_cast<std::uint64_t>(numel) * layout.type.item_size;
    return layout;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  [[noreturn]] void error(const std::string& what) const {
    fail(operation_, name_,
         "corrupt header: " + what + " at offset " + std::to_string(pos_) + " of \"" +
             printable(text_) + "\"");
  }

  // The header with control characters escaped, cut short, for error messages.
  static std::string printable(std::string_view text) {
    constexpr std::size_t kMaxShown = 120;
    std::string out;
    for (char c : text.substr(0, kMaxShown)) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte >= 0x20 && byte < 0x7f) {
        out += c;
      } else {
        constexpr char kHex[] = "0123456789abcdef";
        out += "\\x";
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
      }
    }
    if (text.size() > kMaxShown) out += "...";
    return out;
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c) {
    skip_space();
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }

  std::string parse_string(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') error(std::string("expected a quoted string for ") + what);
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("unterminated string");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }

  bool parse_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    error("expected True or False for fortran_order");
  }

  Shape parse_shape() {
    expect('(');
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (shape.size() > 64) error("too many dimensions");
      shape.push_back(parse_dimension());
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        error("expected ',' or ')' in the shape");
      }
    }
    ++pos_;
    return shape;
  }

  std::int64_t parse_dimension() {
    if (peek() < '0' || peek() > '9') error("expected a non-negative integer dimension");
    std::int64_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
        error("dimension too large");
      }
      value = value * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 wrote long integers as 3L.
    return value;
  }

  NpyTypeInfo resolve_type(const std::string& descr) const {
    for (const NpyTypeInfo& info : kTypes) {
      if (descr == info.descr) return info;
    }
    std::string why = "unsupported dtype '" + descr + "'";
    if (!descr.empty() && descr[0] == '>') {
      std::string little = descr;
      little[0] = '<';
      why = "big-endian dtype '" + descr + "' is not supported (convert with a.astype('" + little +
            "'))";
    } else {
      why += " (supported: <f2 <f4 <f8 <i4 <i8)";
    }
    fail(operation_, name_, why);
  }

  std::string_view text_;
  std::string_view operation_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

// Where the header is: after the magic, the version and the header length.
struct Preamble {
  std::size_t preamble_bytes = 0;
  std::size_t header_bytes = 0;
};

// Checks magic and version of a file of `total_size` bytes whose first min(total_size, 12) bytes
// are `prefix`, and that the header it declares fits in the file.
Preamble parse_preamble(std::span<const std::byte> prefix, std::uint64_t total_size,
                        std::string_view operation, const std::string& name) {
  const auto byte_at = [&](std::size_t i) { return static_cast<std::uint8_t>(prefix[i]); };
  if (total_size < kMagic.size() || std::memcmp(prefix.data(), kMagic.data(), kMagic.size()) != 0) {
    fail(operation, name, "not a .npy file (it does not start with the magic bytes \\x93NUMPY)");
  }
  if (total_size < kVersion1PreambleBytes) {
    fail(operation, name,
         "truncated: " + std::to_string(total_size) + " bytes is too short for the .npy preamble");
  }
  const int major = byte_at(6);
  const int minor = byte_at(7);
  Preamble preamble;
  if (major == 1 && minor == 0) {
    preamble.preamble_bytes = kVersion1PreambleBytes;
    preamble.header_bytes = byte_at(8) | (std::size_t{byte_at(9)} << 8);
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (total_size < kVersion2PreambleBytes) {
      fail(
          operation, name,
          "truncated: " + std::to_string(total_size) + " bytes is too short for the .npy preamble");
    }
    preamble.preamble_bytes = kVersion2PreambleBytes;
    preamble.header_bytes = byte_at(8) | (std::size_t{byte_at(9)} << 8) |
                            (std::size_t{byte_at(10)} << 16) | (std::size_t{byte_at(11)} << 24);
  } else {
    fail(operation, name,
         "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
             " (supported: 1.0, 2.0, 3.0)");
  }
  if (preamble.preamble_bytes + preamble.header_bytes > total_size) {
    fail(operation, name,
         "truncated header: it declares " + std::to_string(preamble.header_bytes) +
             " bytes but the file has " + std::to_string(total_size - preamble.preamble_bytes) +
             " after the preamble");
  }
  return preamble;
}

Layout parse_layout(const Preamble& preamble, std::span<const std::byte> header,
                    std::uint64_t total_size, std::string_view operation, const std::string& name) {
  const std::string_view text(reinterpret_cast<const char*>(header.data()), header.size());
  Layout layout = HeaderParser(text, operation, name).parse();
  layout.data_offset = preamble.preamble_bytes + preamble.header_bytes;
  const std::uint64_t available = total_size - layout.data_offset;
  const std::string needs = "shape " + shape_to_string(layout.shape) + " of " +
                            std::string(layout.type.descr) + " needs " +
                            std::to_string(layout.data_bytes) + " data bytes";
  if (available < layout.data_bytes) {
    fail(operation, name,
         "truncated data: " + needs + ", the file has " + std::to_string(available));
  }
  if (available > layout.data_bytes) {
    fail(operation, name,
         needs + " but the file has " + std::to_string(available - layout.data_bytes) +
             " more bytes after them (several arrays in one file are not supported)");
  }
  // float16 values widen to float32 in memory: the file size alone does not bound the tensor.
  check_allocation(
      bytes_of(static_cast<std::uint64_t>(layout.numel), element_size(layout.type.dtype)),
      "[" + std::string(operation) + "] " + name + ": shape " + shape_to_string(layout.shape) +
          " of " + std::string(layout.type.descr));
  return layout;
}

void convert_f2(const std::byte* raw, float* out, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, raw + i * 2, sizeof(bits));
    out[i] = float16_bits_to_float(bits);
  }
}

// Fills a tensor from the raw little-endian data of `layout`.
Tensor decode(const Layout& layout, const std::byte* raw) {
  Tensor tensor(layout.shape, layout.type.dtype);
  if (layout.numel == 0) return tensor;
  switch (layout.type.type) {
    case NpyType::f2:
      convert_f2(raw, tensor.data<float>(), layout.numel);
      break;
    case NpyType::f4:
    case NpyType::f8:
    case NpyType::i4:
    case NpyType::i8:
      std::memcpy(tensor.mutable_bytes(), raw, layout.data_bytes);
      break;
  }
  return tensor;
}

std::string shape_literal(const Shape& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ",";
  return text + ")";
}

std::string system_error_text() { return std::strerror(errno); }

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, const std::string& name) {
  constexpr std::string_view kOperation = "parse_npy";
  const Preamble preamble = parse_preamble(bytes, bytes.size(), kOperation, name);
  const Layout layout =
      parse_layout(preamble, bytes.subspan(preamble.preamble_bytes, preamble.header_bytes),
                   bytes.size(), kOperation, name);
  return decode(layout, bytes.data() + layout.data_offset);
}

Tensor read_npy(const std::string& path) {
  constexpr std::string_view kOperation = "read_npy";
  try {
    require_regular_file(path);  // A FIFO would block the open below.
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error("[" + std::string(kOperation) + "] " + error.what());
  }
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(kOperation, path, "cannot open: " + system_error_text());
  file.seekg(0, std::ios::end);
  const std::streamoff end = file.tellg();
  file.seekg(0, std::ios::beg);
  if (end < 0 || !file) fail(kOperation, path, "cannot determine the file size");
  const auto total_size = static_cast<std::uint64_t>(end);

  const auto read_exactly = [&](void* out, std::uint64_t count) {
    file.read(static_cast<char*>(out), static_cast<std::streamsize>(count));
    if (static_cast<std::uint64_t>(file.gcount()) != count) {
      fail(kOperation, path, "read error: " + system_error_text());
    }
  };

  std::byte prefix[kVersion2PreambleBytes] = {};
  read_exactly(prefix, std::min<std::uint64_t>(total_size, sizeof(prefix)));
  const Preamble preamble = parse_preamble(prefix, total_size, kOperation, path);
  std::vector<std::byte> header(preamble.header_bytes);
  file.seekg(static_cast<std::streamoff>(preamble.preamble_bytes));
  read_exactly(header.data(), header.size());
  const Layout layout = parse_layout(preamble, header, total_size, kOperation, path);

  if (layout.type.type != NpyType::f2) {
    // The file's bytes are the tensor's bytes: read straight into the tensor.
    Tensor tensor(layout.shape, layout.type.dtype);
    if (layout.numel > 0) read_exactly(tensor.mutable_bytes(), layout.data_bytes);
    return tensor;
  }
  std::vector<std::byte> raw(layout.data_bytes);
  read_exactly(raw.data(), raw.size());
  return decode(layout, raw.data());
}

std::vector<std::byte> serialize_npy(const Tensor& tensor) {
  if (!tensor.defined()) throw std::invalid_argument("[write_npy] the tensor is undefined");
  if (const std::string problem = shape_problem(tensor.shape()); !problem.empty()) {
    throw std::invalid_argument("[write_npy] " + problem);
  }
  std::string_view descr = "<f4";
  if (tensor.dtype() == DType::int32) descr = "<i4";
  if (tensor.dtype() == DType::int64) descr = "<i8";
  if (tensor.dtype() == DType::float64) descr = "<f8";
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': " + shape_literal(tensor.shape()) +
                       ", }";
  // The same layout as np.save, byte for byte: spare spaces so the first dimension can grow to
  // 21 digits in place, then padding so the data starts at a multiple of 64 bytes (numpy adds a
  // whole 64 when already aligned). With rank <= 8 the header always fits version 1.0.
  constexpr std::size_t kGrowthAxisMaxDigits = 21;
  if (!tensor.shape().empty()) {
    header.append(kGrowthAxisMaxDigits - std::to_string(tensor.shape()[0]).size(), ' ');
  }
  const std::size_t with_newline = header.size() + 1;
  const std::size_t padding =
      kHeaderAlignment - (kVersion1PreambleBytes + with_newline) % kHeaderAlignment;
  header.append(padding, ' ');
  header += '\n';
  constexpr std::size_t preamble_bytes = kVersion1PreambleBytes;

  const std::size_t data_bytes = tensor.nbytes();
  std::vector<std::byte> bytes(preamble_bytes + header.size() + data_bytes);
  std::memcpy(bytes.data(), kMagic.data(), kMagic.size());
  bytes[6] = std::byte{1};  // Version 1.0.
  bytes[7] = std::byte{0};
  bytes[8] = static_cast<std::byte>(header.size() & 0xff);  // Little-endian uint16 length.
  bytes[9] = static_cast<std::byte>(header.size() >> 8);
  std::memcpy(bytes.data() + preamble_bytes, header.data(), header.size());
  if (data_bytes > 0) {
    std::memcpy(bytes.data() + preamble_bytes + header.size(), tensor.bytes(), data_bytes);
  }
  return bytes;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  const std::vector<std::byte> bytes = serialize_npy(tensor);
  errno = 0;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) fail("write_npy", path, "cannot open for writing: " + system_error_text());
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) fail("write_npy", path, "write error: " + system_error_text());
}

}  // namespace ttt
