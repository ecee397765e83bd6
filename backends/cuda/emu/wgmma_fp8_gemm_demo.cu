// wgmma_fp8_gemm_demo.cu — a hand-written sm_90a FP8 GEMM block tile on mimo_wgmma.cuh, the shape the
// compiler's block-level GEMM lowering targets: out[m][n] = sum over 128-wide K blocks kb of
// sa[m][kb] * sb[n / 128][kb] * sum_{k in kb} A[m][k] * B[n][k] (DeepGEMM-style per-128-K promotion:
// a per-row activation scale times a per-128x128-block weight scale, applied in f32 after each K block,
// so the tensor cores only ever sum 128 products). A (M x K) and B (N x K) are e4m3, K-major.
// One 256-thread block (2 warpgroups) computes a 128 x 128 tile; warpgroup w owns rows 64w .. 64w+63.
// Operands are staged in 128B-swizzled shared memory: each 128-byte row of a K block is 8 chunks of 16
// bytes, chunk c of row r stored at chunk c ^ (r % 8), 8-row groups 1024 bytes apart (SBO).
// Checked against a double reference on an odd shape (edges padded with zeros). M, N any; K % 128 == 0.
//   g++ -x c++ -std=c++17 -O1 -DMIMO_HOST_EMU -I backends/cuda/include -I/usr/local/cuda/include
//       backends/cuda/emu/wgmma_fp8_gemm_demo.cu -o /tmp/demo && /tmp/demo
#include "mimo_prelude.cuh"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

constexpr int kBM = 128, kBN = 128, kBK = 128;

// Copies rows r0 .. r0+127 of a K-major e4m3 matrix (K bytes per row, `rows` rows exist) at K block kb
// into `tile`, 16 bytes per thread and step, zeros past the last row.
__device__ void stage(unsigned char* tile, const unsigned char* src, int r0, int rows, int K, int kb) {
  for (int i = threadIdx.x; i < kBM * kBK / 16; i += blockDim.x) {
    const int r = i / 8, c = i % 8;
    uint4 v = {0, 0, 0, 0};
    if (r0 + r < rows) v = *reinterpret_cast<const uint4*>(src + static_cast<size_t>(r0 + r) * K + kb * kBK + 16 * c);
    *reinterpret_cast<uint4*>(tile + mimo_wgmma_smem_index(r, 16 * c, 0, 1024, 1)) = v;
  }
}

__global__ void __launch_bounds__(256) fp8_gemm_block_tile(const unsigned char* A, const float* sa,
                                                           const unsigned char* B, const float* sb, float* out,
                                                           int M, int N, int K) {
  __shared__ __align__(1024) unsigned char sA[kBM * kBK];
  __shared__ __align__(1024) unsigned char sB[kBN * kBK];
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN, KB = K / kBK;
  const int wg = threadIdx.x / 128, w = (threadIdx.x % 128) / 32, g = (threadIdx.x % 32) >> 2, t = threadIdx.x & 3;
  float total[kBN / 2], acc[kBN / 2];
  for (float& x : total) x = 0.0f;
  for (int kb = 0; kb < KB; ++kb) {
    __syncthreads();  // the previous K block's wgmmas (waited for by every thread) are done reading
    stage(sA, A, m0, M, K, kb);
    stage(sB, B, n0, N, K, kb);
    mimo_fence_proxy_async_shared();
    __syncthreads();
    mimo_wgmma_fence();
    for (int s = 0; s < kBK / 32; ++s) {  // 4 k steps of 32 bytes inside each swizzled 128-byte row
      const uint64_t da = mimo_wgmma_desc(sA + wg * 64 * kBK + 32 * s, 0, 1024, 1);
      const uint64_t db = mimo_wgmma_desc(sB + 32 * s, 0, 1024, 1);
      mimo_wgmma_m64nNk32_e4m3<kBN>(acc, da, db, s > 0);
    }
    mimo_wgmma_commit();
    mimo_wgmma_wait<0>(acc);
    const float wscale = sb[blockIdx.x * KB + kb];
    for (int i = 0; i < kBN / 2; ++i) {
      const int row = m0 + 64 * wg + 16 * w + g + (i & 2 ? 8 : 0);
      total[i] += acc[i] * (row < M ? sa[row * KB + kb] : 0.0f) * wscale;
    }
  }
  for (int i = 0; i < kBN / 2; ++i) {
    const int row = m0 + 64 * wg + 16 * w + g + (i & 2 ? 8 : 0), col = n0 + 8 * (i / 4) + 2 * t + (i & 1);
    if (row < M && col < N) out[row * N + col] = total[i];
  }
}

static uint32_t rng_state = 777u;
static uint32_t rng() { return rng_state = rng_state * 1664525u + 1013904223u, rng_state >> 8; }
static double fp8_value(unsigned char b) {  // cuda_fp8.h host conversion, not the emulator's decoder
  __nv_fp8_e4m3 x;
  x.__x = b;
  return static_cast<float>(x);
}

#define CHECK(x)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

int main() {
  const int M = 100, N = 200, K = 384, KB = K / kBK, NB = (N + kBN - 1) / kBN;
  std::vector<unsigned char> a(M * K), b(N * K);
  for (auto* v : {&a, &b})
    for (unsigned char& x : *v) do x = static_cast<unsigned char>(rng());
      while (std::isnan(fp8_value(x)));
  std::vector<float> sa(M * KB), sb(NB * KB), out(M * N, NAN);
  for (float& x : sa) x = std::ldexp(1.0f + (rng() % 1024) / 1024.0f, -static_cast<int>(rng() % 8));
  for (float& x : sb) x = std::ldexp(1.0f + (rng() % 1024) / 1024.0f, -static_cast<int>(rng() % 8));
  unsigned char *dA, *dB;
  float *dsa, *dsb, *dout;
  CHECK(cudaMalloc(&dA, a.size()));
  CHECK(cudaMalloc(&dB, b.size()));
  CHECK(cudaMalloc(&dsa, sa.size() * 4));
  CHECK(cudaMalloc(&dsb, sb.size() * 4));
  CHECK(cudaMalloc(&dout, out.size() * 4));
  CHECK(cudaMemcpy(dA, a.data(), a.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dB, b.data(), b.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dsa, sa.data(), sa.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dsb, sb.data(), sb.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dout, out.data(), out.size() * 4, cudaMemcpyHostToDevice));
  MIMO_LAUNCH(fp8_gemm_block_tile, dim3(NB, (M + kBM - 1) / kBM), 256, 0, 0, dA, dsa, dB, dsb, dout, M, N, K);
  CHECK(cudaGetLastError());
  CHECK(cudaMemcpy(out.data(), dout, out.size() * 4, cudaMemcpyDeviceToHost));
  // f32 error: 128-term sums per K block (<= 129 * 2^-24 relative to the magnitudes), then KB scaled adds.
  double worst = 0;
  int bad = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double ref = 0, mag = 0;
      for (int kb = 0; kb < KB; ++kb) {
        const double scale = static_cast<double>(sa[m * KB + kb]) * sb[(n / kBN) * KB + kb];
        for (int k = kb * kBK; k < (kb + 1) * kBK; ++k) {
          const double p = scale * fp8_value(a[m * K + k]) * fp8_value(b[n * K + k]);
          ref += p, mag += std::fabs(p);
        }
      }
      const double err = std::fabs(out[m * N + n] - ref), bound = (kBK + 2 * KB + 2) * std::ldexp(1.0, -24) * mag;
      if (!(err <= bound)) {
        if (bad++ < 5) std::fprintf(stderr, "out[%d][%d] = %.9g, double reference %.9g, error %.3g > %.3g\n", m, n, out[m * N + n], ref, err, bound);
      } else if (bound > 0) {
        worst = std::fmax(worst, err / bound);
      }
    }
  std::printf("wgmma fp8 GEMM demo %dx%dx%d: %d of %d outside the f32 bound (worst in-bound error %.3g x bound)\n", M, N, K,
              bad, M * N, worst);
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dB));
  CHECK(cudaFree(dsa));
  CHECK(cudaFree(dsb));
  CHECK(cudaFree(dout));
  return bad ? 1 : 0;
}
