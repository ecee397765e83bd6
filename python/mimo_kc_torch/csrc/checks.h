// Launch checks for the generated torch.library ops (ops.cpp, written by codegen.py).
// The launchers trust their arguments (raw pointers, i32 sizes), and a wrong shape, dtype,
// stride or precondition would run and compute garbage, so every op checks them first, with
// the same rules and messages as the Node runtimes (backends/common/args.ts): errors name the
// kernel, the argument, what was expected and what was given; nothing is clamped or wrapped.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iomanip>
#include <sstream>
#include <string>
#include <utility>

#include "mimo_kernels.h"

// Defined next to the launchers (kernels.cpp / kernels.cu), where the CUDA runtime, real or
// emulated, is linked.
extern "C" const char* mimo_kc_error_string(cudaError_t err);

namespace mimo_kc {

// One dimension of a binding: its formula text (`T`, `cdiv(K, 128)`), or nullptr for a literal size.
struct Dim {
  const char* name;
  int64_t value;
};

constexpr double kF32Max = 3.4028234663852886e38;
// Every backend indexes tensors with i32 arithmetic.
constexpr int64_t kMaxElements = 2147483647LL;

inline int check_i32(const char* kernel, const char* arg, int64_t v, bool is_dim) {
  TORCH_CHECK(v >= -2147483648LL && v <= 2147483647LL, "[kernel ", kernel, "] argument '", arg,
              "': expected an i32 in [-2147483648, 2147483647], got ", v);
  TORCH_CHECK(!is_dim || v >= 0, "[kernel ", kernel, "] argument '", arg, "': shape symbol must be >= 0, got ", v);
  return static_cast<int>(v);
}

inline unsigned check_u32(const char* kernel, const char* arg, int64_t v) {
  TORCH_CHECK(v >= 0 && v <= 4294967295LL, "[kernel ", kernel, "] argument '", arg,
              "': expected a u32 in [0, 4294967295], got ", v);
  return static_cast<unsigned>(v);
}

// A double that would round to an infinite f32 is refused, not saturated.
inline float check_f32(const char* kernel, const char* arg, double v) {
  TORCH_CHECK(std::isfinite(v) && std::fabs(v) <= kF32Max, "[kernel ", kernel, "] argument '", arg,
              "': expected a finite f32 (|x| <= ", kF32Max, "), got ", v);
  return static_cast<float>(v);
}

inline std::string shape_text(const char* dtype, std::initializer_list<Dim> shape) {
  std::ostringstream s;
  s << dtype << "[";
  const char* sep = "";
  for (const Dim& d : shape) {
    s << sep;
    if (d.name) s << d.name << "=";
    s << d.value;
    sep = ", ";
  }
  s << "]";
  return s.str();
}

// The row-major contract of the manifest: the declared dtype, exactly the declared sizes, no
// strides (a transposed or sliced view would be read as if it were packed), on `device`.
inline void check_tensor(const char* kernel, const char* arg, const at::Tensor& t, at::ScalarType dtype,
                         const char* dtype_name, std::initializer_list<Dim> shape, const c10::Device& device) {
  const std::string want = shape_text(dtype_name, shape);
  TORCH_CHECK(t.defined(), "[kernel ", kernel, "] argument '", arg, "': missing tensor, expected ", want);
  TORCH_CHECK(t.scalar_type() == dtype, "[kernel ", kernel, "] argument '", arg, "': expected dtype ", dtype_name,
              " (", c10::toString(dtype), "), got ", c10::toString(t.scalar_type()));
  TORCH_CHECK(t.device() == device, "[kernel ", kernel, "] argument '", arg, "': expected a tensor on ", device,
              ", got ", t.device());
  bool same = t.dim() == static_cast<int64_t>(shape.size());
  int64_t elements = 1;
  int i = 0;
  for (const Dim& d : shape) {
    same = same && t.size(i++) == d.value;
    elements *= d.value;
  }
  TORCH_CHECK(same, "[kernel ", kernel, "] argument '", arg, "': expected shape ", want, ", got ", t.sizes());
  TORCH_CHECK(elements <= kMaxElements, "[kernel ", kernel, "] argument '", arg, "': ", want, " = ", elements,
              " elements is more than i32 indexing reaches (", kMaxElements, ")");
  TORCH_CHECK(t.is_contiguous(), "[kernel ", kernel, "] argument '", arg,
              "': expected a contiguous (row-major) tensor, got strides ", t.strides());
}

// The generated kernels declare every pointer __restrict__: an output sharing bytes with another
// argument (rmsnorm(x, w, out=x)) is undefined behaviour there, so it is refused here.
inline void check_no_overlap(const char* kernel, const char* out, const at::Tensor& a, const char* other,
                             const at::Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0) return;
  const auto* a0 = static_cast<const char*>(a.data_ptr());
  const auto* b0 = static_cast<const char*>(b.data_ptr());
  const bool disjoint = a0 + a.nbytes() <= b0 || b0 + b.nbytes() <= a0;
  TORCH_CHECK(disjoint, "[kernel ", kernel, "] argument '", out, "': output overlaps argument '", other,
              "' in memory; pass a separate tensor");
}

// Integers exactly (JavaScript's form in the Node runtimes' messages), others to f32 precision.
inline std::string num_text(double v) {
  std::ostringstream s;
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9007199254740992.0)
    s << static_cast<long long>(v);
  else
    s << std::setprecision(9) << v;
  return s.str();
}

inline std::string list_values(std::initializer_list<std::pair<const char*, double>> values) {
  std::ostringstream s;
  const char* sep = "";
  for (const auto& v : values) {
    s << sep << v.first << "=" << num_text(v.second);
    sep = ", ";
  }
  return s.str();
}

// Formulas of the manifest's trees are evaluated in doubles, as evalSize does in the Node
// runtimes: `/` truncates, `cdiv` rounds up, a zero divisor gives NaN or inf and fails the rule.
inline double cdiv(double a, double b) { return std::ceil(a / b); }
inline double tdiv(double a, double b) { return std::trunc(a / b); }

inline void check_require(const char* kernel, bool holds, const char* text,
                          std::initializer_list<std::pair<const char*, double>> values, const std::string& need) {
  TORCH_CHECK(holds, "[kernel ", kernel, "] precondition ", text, " failed: ", list_values(values), " (", need, ")");
}

inline std::string need_text(const char* lhs, double lhs_value, bool lhs_is_symbol, const char* rel, double rhs) {
  std::ostringstream s;
  if (lhs_is_symbol)
    s << "needs " << lhs << " " << rel << " " << num_text(rhs);
  else
    s << lhs << " = " << num_text(lhs_value) << ", needs " << rel << " " << num_text(rhs);
  return s.str();
}

// A zero grid component launches nothing: acceptable only when no output the kernel writes in
// full would then come back unwritten.
inline void check_empty_grid(const char* kernel, const char* axis, const char* formula, double grid,
                             const char* out, int64_t out_elements) {
  TORCH_CHECK(!(grid == 0 && out_elements > 0), "[kernel ", kernel, "] grid ", axis, " = ", formula,
              " = 0: an empty grid would leave output '", out, "' (", out_elements, " elements) unwritten");
}

inline void check_launch(const char* kernel, const char* launcher, cudaError_t err) {
  TORCH_CHECK(err == cudaSuccess, "[kernel ", kernel, "] ", launcher, " failed: ", mimo_kc_error_string(err),
              " (cudaError ", static_cast<int>(err), ")");
}

}  // namespace mimo_kc
