// wgmma_selftest.cu — mimo_wgmma_m64nNk32_e4m3 / mimo_wgmma_m64nNk16_bf16 (mimo_wgmma.cuh) against a
// double-precision reference: distinct operand values, N = 8 .. 256, every swizzle mode, scaleD 0 and 1,
// several k steps into one accumulator, bf16 B MN-major (stored [K][N], imm-trans-b) as well as K-major, and
// descriptors that lie about the staged layout (which must miss). The same source runs on the CPU emulator and, built with nvcc -arch=sm_90a, on a Hopper GPU.
//   g++ -x c++ -std=c++17 -O1 -DMIMO_HOST_EMU -I backends/cuda/include -I/usr/local/cuda/include
//       backends/cuda/emu/wgmma_selftest.cu -o /tmp/wgmma_selftest && /tmp/wgmma_selftest
// Emulator only: --block96 and --early-return show the diagnostics for a broken warpgroup.
#include "mimo_prelude.cuh"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

enum Lie { kTruth = 0, kNoSwizzle = 1, kSboOff = 2, kNoTrans = 3 };

// Byte offset of (row, kbyte) of a rows x kbytes K-major tile staged for `swizzle`: no swizzle with
// LBO = 128 (K-adjacent core matrices contiguous) and SBO = kbytes * 8; swizzled as column blocks of R
// bytes (rows x R each, SBO = 8R).
__host__ __device__ unsigned stage_index(unsigned row, unsigned kbyte, unsigned rows, unsigned kbytes, int swizzle) {
  if (swizzle == 0) return mimo_wgmma_smem_index(row, kbyte, 128, kbytes * 8, 0);
  const unsigned R = 128u >> (swizzle - 1);
  return (kbyte / R) * rows * R + mimo_wgmma_smem_index(row, kbyte % R, 0, 8 * R, swizzle);
}

// Byte offset of (k, mnbyte) of a K x mnbytes MN-major tile: no swizzle with LBO = 128 (k-adjacent core
// matrices contiguous) and SBO = 16K (one 16-byte column strip of all K rows); swizzled as atoms of R bytes
// of columns, LBO = K * R apart (each K x R), SBO = 8R.
__host__ __device__ unsigned stage_index_mn(unsigned k, unsigned mnbyte, unsigned K, int swizzle) {
  if (swizzle == 0) return mimo_wgmma_smem_index_mn(k, mnbyte, 128, 16 * K, 0);
  const unsigned R = 128u >> (swizzle - 1);
  return mimo_wgmma_smem_index_mn(k, mnbyte, K * R, 8 * R, swizzle);
}
__device__ uint64_t step_desc_mn(const unsigned char* tile, unsigned K, int s, int swizzle) {
  if (swizzle == 0) return mimo_wgmma_desc(tile + 256u * s, 128, 16 * K, 0);
  const unsigned R = 128u >> (swizzle - 1);
  return mimo_wgmma_desc(tile + 16u * R * s, K * R, 8 * R, swizzle);
}

// Descriptor of k step s (32 bytes of K) of that tile, or a deliberately wrong one.
__device__ uint64_t step_desc(const unsigned char* tile, unsigned rows, unsigned kbytes, int s, int swizzle, int lie) {
  const unsigned kb = 32u * s;
  if (swizzle == 0) return mimo_wgmma_desc(tile + (kb / 16) * 128, 128, kbytes * 8 + (lie == kSboOff ? 128 : 0), 0);
  const unsigned R = 128u >> (swizzle - 1);
  return mimo_wgmma_desc(tile + (kb / R) * rows * R + kb % R, 0, 8 * R, lie == kNoSwizzle ? 0 : swizzle);
}

// One warpgroup: D(64 x N) = C * scale0 + sum over ksteps of A_s * B_s^T. A: 64 x kbytes, B: N x kbytes raw
// element bytes, row-major (Mn: B staged MN-major, bf16 only); C, D: 64 x N.
template <bool Fp8, int N, bool Mn>
__global__ void wgmma_case(const unsigned char* A, const unsigned char* B, const float* C, float* D, int ksteps,
                           int swizzle, int scale0, int lie) {
  __shared__ __align__(1024) unsigned char sA[64 * 128];
  __shared__ __align__(1024) unsigned char sB[256 * 128];
  const unsigned kbytes = 32u * ksteps, tid = threadIdx.x;
  for (unsigned i = tid; i < 64 * kbytes; i += 128) sA[stage_index(i / kbytes, i % kbytes, 64, kbytes, swizzle)] = A[i];
  for (unsigned i = tid; i < N * kbytes; i += 128) {
    const unsigned n = i / kbytes, kb = i % kbytes;
    sB[Mn ? stage_index_mn(kb / 2, 2 * n + kb % 2, kbytes / 2, swizzle) : stage_index(n, kb, N, kbytes, swizzle)] = B[i];
  }
  mimo_fence_proxy_async_shared();
  __syncthreads();
  const unsigned w = tid / 32, g = (tid % 32) >> 2, t = tid & 3u;
  float d[N / 2];
  for (int i = 0; i < N / 2; ++i) d[i] = C[(16 * w + g + (i & 2 ? 8 : 0)) * N + 8 * (i / 4) + 2 * t + (i & 1)];
  mimo_wgmma_fence();
  for (int s = 0; s < ksteps; ++s) {
    const uint64_t da = step_desc(sA, 64, kbytes, s, swizzle, lie);
    const uint64_t db = Mn ? step_desc_mn(sB, kbytes / 2, s, swizzle) : step_desc(sB, N, kbytes, s, swizzle, lie);
    if constexpr (Fp8) mimo_wgmma_m64nNk32_e4m3<N>(d, da, db, s == 0 ? scale0 : 1);
    else if (Mn && lie != kNoTrans) mimo_wgmma_m64nNk16_bf16<N, 1>(d, da, db, s == 0 ? scale0 : 1);
    else mimo_wgmma_m64nNk16_bf16<N>(d, da, db, s == 0 ? scale0 : 1);
  }
  mimo_wgmma_commit();
  mimo_wgmma_wait<0>(d);
  for (int i = 0; i < N / 2; ++i) D[(16 * w + g + (i & 2 ? 8 : 0)) * N + 8 * (i / 4) + 2 * t + (i & 1)] = d[i];
}

static uint32_t rng_state = 12345u;
static uint32_t rng() { return rng_state = rng_state * 1664525u + 1013904223u, rng_state >> 8; }

// The reference decodes with cuda_fp8.h / cuda_bf16.h host conversions, not the emulator's own.
static double fp8_value(unsigned char b) {
  __nv_fp8_e4m3 x;
  x.__x = b;
  return static_cast<float>(x);
}
static double bf16_value(const unsigned char* p) {
  __nv_bfloat16_raw r;
  r.x = static_cast<unsigned short>(p[0] | p[1] << 8);
  return __bfloat162float(__nv_bfloat16(r));
}
static void random_elements(std::vector<unsigned char>& v, bool fp8) {
  for (size_t i = 0; i < v.size(); i += fp8 ? 1 : 2) {
    if (fp8) {
      do v[i] = static_cast<unsigned char>(rng());
      while (std::isnan(fp8_value(v[i])));
    } else {  // exponents 2^-8 .. 2^7, random sign and mantissa
      const unsigned bits = (rng() & 0x8000u) | ((119u + rng() % 16u) << 7) | (rng() & 0x7Fu);
      v[i] = static_cast<unsigned char>(bits), v[i + 1] = static_cast<unsigned char>(bits >> 8);
    }
  }
}

#define CHECK(x)                                                                 \
  do {                                                                           \
    cudaError_t e_ = (x);                                                        \
    if (e_ != cudaSuccess) {                                                     \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

static int passed = 0, failed = 0;

template <bool Fp8, int N, bool Mn = false>
static void run_case(int ksteps, int swizzle, int scale0, int lie) {
  const unsigned kbytes = 32u * ksteps, esz = Fp8 ? 1 : 2;
  std::vector<unsigned char> a(64 * kbytes), b(N * kbytes);
  random_elements(a, Fp8);
  random_elements(b, Fp8);
  std::vector<float> c(64 * N), d(64 * N);
  for (float& x : c) x = scale0 ? static_cast<float>(rng() % 2001) / 8.0f - 125.0f : NAN;
  unsigned char *dA, *dB;
  float *dC, *dD;
  CHECK(cudaMalloc(&dA, a.size()));
  CHECK(cudaMalloc(&dB, b.size()));
  CHECK(cudaMalloc(&dC, c.size() * 4));
  CHECK(cudaMalloc(&dD, d.size() * 4));
  CHECK(cudaMemcpy(dA, a.data(), a.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dB, b.data(), b.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dC, c.data(), c.size() * 4, cudaMemcpyHostToDevice));
  MIMO_LAUNCH((wgmma_case<Fp8, N, Mn>), 1, 128, 0, 0, dA, dB, dC, dD, ksteps, swizzle, scale0, lie);
  CHECK(cudaGetLastError());
  CHECK(cudaMemcpy(d.data(), dD, d.size() * 4, cudaMemcpyDeviceToHost));
  const unsigned K = kbytes / esz;
  double worst = 0;  // error / bound
  for (int m = 0; m < 64; ++m)
    for (int n = 0; n < N; ++n) {
      double ref = scale0 ? c[m * N + n] : 0.0, mag = std::fabs(ref);
      for (unsigned k = 0; k < K; ++k) {
        const double p = Fp8 ? fp8_value(a[m * kbytes + k]) * fp8_value(b[n * kbytes + k])
                             : bf16_value(&a[m * kbytes + 2 * k]) * bf16_value(&b[n * kbytes + 2 * k]);
        ref += p, mag += std::fabs(p);
      }
      const double err = std::fabs(d[m * N + n] - ref), bound = (K + 1) * std::ldexp(1.0, -24) * mag + 1e-30;
      worst = std::isnan(err) ? INFINITY : std::fmax(worst, err / bound);
    }
  const bool ok = lie == kTruth ? worst <= 1.0 : worst > 1e3;
  std::printf("%s %s m64n%dk%d%s swizzle %d, %d k steps, scaleD %d%s: worst error %.3g x bound\n", ok ? "PASS" : "FAIL",
              Fp8 ? "e4m3" : "bf16", N, Fp8 ? 32 : 16, Mn ? " B MN-major" : "", swizzle, ksteps, scale0,
              lie == kNoSwizzle ? " (descriptor claims no swizzle: must miss)" : lie == kSboOff ? " (SBO 128 too large: must miss)"
              : lie == kNoTrans ? " (read as K-major: must miss)" : "",
              worst);
  (ok ? passed : failed)++;
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dB));
  CHECK(cudaFree(dC));
  CHECK(cudaFree(dD));
}

#if defined(MIMO_HOST_EMU)
__global__ void broken_warpgroup(const unsigned char* tile, float* out, int early) {
  if (early && threadIdx.x == 5) return;
  __syncthreads();
  float d[4] = {0, 0, 0, 0};
  const uint64_t desc = mimo_wgmma_desc(tile, 128, 1024, 0);
  mimo_wgmma_m64nNk32_e4m3<8>(d, desc, desc, 0);
  out[threadIdx.x] = d[0];
}
#endif

int main(int argc, char** argv) {
#if defined(MIMO_HOST_EMU)
  if (argc > 1) {  // each aborts with a message
    static __align__(1024) unsigned char tile[8192];
    static float out[128];
    const bool early = std::strcmp(argv[1], "--early-return") == 0;
    MIMO_LAUNCH(broken_warpgroup, 1, early ? 128 : 96, 0, 0, tile, out, early ? 1 : 0);
    return 0;
  }
#else
  (void)argc, (void)argv;
#endif
  run_case<true, 8>(2, 0, 1, kTruth);
  run_case<true, 64>(4, 1, 0, kTruth);
  run_case<true, 128>(4, 1, 1, kTruth);
  run_case<true, 256>(1, 0, 1, kTruth);
  run_case<true, 64>(4, 2, 1, kTruth);
  run_case<false, 8>(4, 1, 0, kTruth);
  run_case<false, 64>(3, 0, 1, kTruth);
  run_case<false, 128>(2, 1, 1, kTruth);
  run_case<false, 256>(4, 1, 1, kTruth);
  run_case<false, 32>(4, 3, 0, kTruth);
  run_case<true, 64>(4, 1, 1, kNoSwizzle);
  run_case<false, 64>(2, 0, 1, kSboOff);
  run_case<false, 64, true>(4, 1, 1, kTruth);
  run_case<false, 128, true>(2, 1, 0, kTruth);
  run_case<false, 256, true>(4, 2, 1, kTruth);
  run_case<false, 32, true>(3, 3, 1, kTruth);
  run_case<false, 16, true>(2, 0, 1, kTruth);
  run_case<false, 64, true>(2, 1, 1, kNoTrans);
  std::printf("wgmma selftest: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
