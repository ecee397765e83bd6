// A C++ engine's view of mimo-kc: include mimo_kernels.h, link libmimo_kernels, call launchers on
// device buffers. Runs RMSNorm, SwiGLU and a bf16 GEMM on small odd-sized inputs and checks each
// output against a float64 reference computed here; exits 1 on a mismatch or a CUDA error.
//   GPU:          examples/cuda/CMakeLists.txt
//   CPU emulator: the same file with -DMIMO_HOST_EMU against backends/cuda/include (README, "CUDA library")
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mimo_kernels.h"
#if defined(MIMO_HOST_EMU)
#include "mimo_cuda_emu.h"  // cudaMalloc & co. on host memory; the launchers run the kernels on the CPU
#endif

namespace {

// bf16 is the upper half of an f32; the engine sees it as 16 bits. Round to nearest even (no NaN here).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
double from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
double from_f32(float f) { return f; }

// Deterministic inputs in [-1, 1), already bf16: the reference sees exactly what the kernel reads.
std::vector<uint16_t> random_bf16(size_t n, uint32_t seed) {
  std::vector<uint16_t> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = to_bf16(static_cast<float>(seed >> 8) / 8388608.0f - 1.0f);
  }
  return v;
}

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "mimo_example: %s failed: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

// A device copy of a host vector (or `n` uninitialised elements), freed at scope exit.
template <class T>
struct Device {
  void* ptr = nullptr;
  size_t n;
  explicit Device(size_t count) : n(count) { check(cudaMalloc(&ptr, n * sizeof(T)), "cudaMalloc"); }
  explicit Device(const std::vector<T>& host) : Device(host.size()) {
    check(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy to device");
  }
  ~Device() { cudaFree(ptr); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  std::vector<T> download() const {
    std::vector<T> host(n);
    check(cudaMemcpy(host.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy to host");
    return host;
  }
};

// One line per kernel: the largest error as a fraction of its tolerance; false if any exceeds it.
template <class T>
bool compare(const char* what, const std::vector<T>& got, double (*decode)(T), const std::vector<double>& ref, const std::vector<double>& tol) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = std::fabs(decode(got[i]) - ref[i]) / tol[i];
    if (!(r <= worst)) worst = r, at = i;  // a NaN output counts as the worst
  }
  const bool ok = worst <= 1.0;
  std::printf("%s: %zu values, max |err|/tol = %.3f%s\n", what, ref.size(), worst, ok ? " ok" : "");
  if (!ok) std::printf("  at %zu: got %.9g, want %.9g (tol %.3g)\n", at, decode(got[at]), ref[at], tol[at]);
  return ok;
}

// An output rounded to bf16 is within half a bf16 ulp (2^-8 relative) of the exact value, plus f32 math.
double bf16_tol(double ref) { return std::fabs(ref) * (1.0 / 256) * 1.01 + 1e-6; }

bool run_rmsnorm() {
  const int T = 3, D = 1000;
  const auto x = random_bf16(size_t(T) * D, 1), w = random_bf16(D, 2);
  Device<uint16_t> dx(x), dw(w), dy(size_t(T) * D);
  check(mimo_rmsnorm(dx.ptr, dw.ptr, dy.ptr, T, D, nullptr), "mimo_rmsnorm");
  check(cudaDeviceSynchronize(), "mimo_rmsnorm (synchronize)");
  std::vector<double> ref(size_t(T) * D), tol(ref.size());
  for (int t = 0; t < T; ++t) {
    double ss = 0;
    for (int d = 0; d < D; ++d) ss += from_bf16(x[t * D + d]) * from_bf16(x[t * D + d]);
    const double inv = 1 / std::sqrt(ss / D + 1e-5);
    for (int d = 0; d < D; ++d) {
      ref[t * D + d] = from_bf16(x[t * D + d]) * inv * from_bf16(w[d]);
      tol[t * D + d] = bf16_tol(ref[t * D + d]);
    }
  }
  return compare("mimo_rmsnorm T=3 D=1000", dy.download(), from_bf16, ref, tol);
}

bool run_swiglu() {
  const int T = 2, F = 1500;
  const auto gate = random_bf16(size_t(T) * F, 3), up = random_bf16(size_t(T) * F, 4);
  Device<uint16_t> dg(gate), du(up), dout(size_t(T) * F);
  check(mimo_swiglu(dg.ptr, du.ptr, dout.ptr, T * F, nullptr), "mimo_swiglu");
  check(cudaDeviceSynchronize(), "mimo_swiglu (synchronize)");
  std::vector<double> ref(gate.size()), tol(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = from_bf16(gate[i]);
    ref[i] = g / (1 + std::exp(-g)) * from_bf16(up[i]);
    tol[i] = bf16_tol(ref[i]);
  }
  return compare("mimo_swiglu T=2 F=1500", dout.download(), from_bf16, ref, tol);
}

bool run_gemm_bf16() {
  const int M = 40, N = 72, K = 48;  // not multiples of the 32x32 tile
  const auto a = random_bf16(size_t(M) * K, 5), b = random_bf16(size_t(K) * N, 6);
  Device<uint16_t> da(a), db(b);
  Device<float> dc(size_t(M) * N);
  check(mimo_gemm_bf16(da.ptr, db.ptr, dc.ptr, M, N, K, nullptr), "mimo_gemm_bf16");
  check(cudaDeviceSynchronize(), "mimo_gemm_bf16 (synchronize)");
  std::vector<double> ref(size_t(M) * N), tol(ref.size());
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      double s = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        const double p = from_bf16(a[m * K + k]) * from_bf16(b[k * N + n]);
        s += p;
        mag += std::fabs(p);
      }
      ref[m * N + n] = s;
      tol[m * N + n] = 1e-5 * mag + 1e-7;  // f32 accumulation over K = 48 (bf16 products are exact)
    }
  }
  return compare("mimo_gemm_bf16 M=40 N=72 K=48", dc.download(), from_f32, ref, tol);
}

// The launchers check sizes before launching: a negative one is an error, not a launch.
bool run_refusal() {
  const cudaError_t e = mimo_rmsnorm(nullptr, nullptr, nullptr, -1, 8, nullptr);
  const bool ok = e == cudaErrorInvalidValue;
  std::printf("mimo_rmsnorm T=-1: %s%s\n", cudaGetErrorString(e), ok ? " ok" : " (want invalid argument)");
  return ok;
}

}  // namespace

int main() {
  bool ok = run_rmsnorm();
  ok = run_swiglu() && ok;
  ok = run_gemm_bf16() && ok;
  ok = run_refusal() && ok;
  return ok ? 0 : 1;
}
