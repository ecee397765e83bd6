// mimo_emu_wgmma.h — wgmma.mma_async for the CPU emulator (included by mimo_cuda_emu.h; the device
// functions and the layouts they read are documented in mimo_wgmma.cuh).
//   * A warpgroup is 128 consecutive linear thread ids; the block must be a multiple of 128 threads.
//     Each wgmma is a collective of all 128: every thread deposits its operands (which must agree), the
//     last arrival decodes A and B from shared memory through the two descriptors, exactly as the
//     hardware addresses them (LBO, SBO, swizzle XOR on the address bits), so a wrong descriptor or a
//     wrong staging layout gives wrong numbers here as on a GPU. Each thread then computes its N/2
//     accumulator elements with fmaf in k order from D (or 0 when scaleD == 0): fp8 and bf16 products
//     are exact in f32, so only the summation order and rounding differ from the tensor cores (and the
//     hardware's reduced-precision fp8 accumulation, which the per-128-K promotion exists for).
//   * Async: the result is written at the collective. The PTX ISA leaves reading the accumulator, or
//     writing the operand shared memory, before the wgmma.wait_group that covers the op undefined, so
//     code that waits before touching either cannot tell the difference; fence/commit/wait are no-ops.
//   * Descriptors: a host address does not fit the 14-bit start address field. mimo_wgmma_desc keeps
//     the address bits 4..17 there, as a GPU does, and records the bits above 18 in a region table
//     whose index it stores in bits 52..61 (reserved by the PTX format; generated code never sets
//     them). Bits 14..15 are read as carries of the start address, so adding k-step offsets to the
//     descriptor works across a host 256 KiB boundary, where shared addresses on a GPU never wrap.
//   * bf16 B with trans_b = 1 (imm-trans-b) is read MN-major: element (n, k) at the address
//     mimo_wgmma.cuh documents (atoms of 8 k-rows, LBO between column atoms, SBO between 8-row groups;
//     without swizzle the two swap), decoded from the descriptor fields as the hardware does.
//   * Aborts with a message: fewer than 128 threads, a block size that is not a multiple of 128,
//     threads that disagree on the operands, a descriptor the emulator did not make, a base offset
//     other than 0, misaligned or out-of-range descriptor fields, a transposed e4m3 operand.
#pragma once

namespace mimo_emu {

enum : int { kWgmmaE4m3 = 1, kWgmmaBf16 = 2 };

inline const char* wgmma_name(int kind) {
  return kind == kWgmmaE4m3 ? "mimo_wgmma_m64nNk32_e4m3" : "mimo_wgmma_m64nNk16_bf16";
}

struct WgmmaRegions {
  uintptr_t hi[1024];  // host address >> 18 of each region a descriptor was made in
  unsigned n = 0;
};
inline WgmmaRegions wgmma_regions;

inline uint64_t wgmma_desc(const void* smem, unsigned lbo, unsigned sbo, int swizzle) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(smem);
  if (addr & 15u) fatal("mimo_wgmma_desc: shared address %p is not 16-byte aligned", smem);
  if ((lbo & 15u) || lbo >= (1u << 18))
    fatal("mimo_wgmma_desc: lbo_bytes = %u, expected a multiple of 16 below 262144", lbo);
  if ((sbo & 15u) || sbo >= (1u << 18))
    fatal("mimo_wgmma_desc: sbo_bytes = %u, expected a multiple of 16 below 262144", sbo);
  if (swizzle < 0 || swizzle > 3)
    fatal("mimo_wgmma_desc: swizzle = %d, expected 0 (none), 1 (128B), 2 (64B) or 3 (32B)", swizzle);
  WgmmaRegions& r = wgmma_regions;
  unsigned idx = 0;
  while (idx < r.n && r.hi[idx] != addr >> 18) ++idx;
  if (idx == r.n) {
    if (r.n == 1024) fatal("mimo_wgmma_desc: more than 1024 distinct 256 KiB shared-memory regions");
    r.hi[r.n++] = addr >> 18;
  }
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | static_cast<uint64_t>(lbo >> 4) << 16 |
         static_cast<uint64_t>(sbo >> 4) << 32 | static_cast<uint64_t>(idx) << 52 |
         static_cast<uint64_t>(swizzle) << 62;
}

struct WgmmaFields {
  uintptr_t start, lbo, sbo;
  unsigned s;  // swizzle: address bits [4, 4+s) XOR bits [7, 7+s); 0 none
};
inline WgmmaFields wgmma_fields(const char* what, uint64_t desc) {
  const unsigned idx = static_cast<unsigned>(desc >> 52) & 0x3FFu;
  if (idx >= wgmma_regions.n) fatal("%s: descriptor 0x%016llx was not made by mimo_wgmma_desc", what, (unsigned long long)desc);
  if ((desc >> 49) & 7u)
    fatal("%s: descriptor 0x%016llx has base offset %u; the emulator supports 0 (an aligned swizzle atom)", what,
          (unsigned long long)desc, static_cast<unsigned>((desc >> 49) & 7u));
  const unsigned swizzle = static_cast<unsigned>(desc >> 62);
  return {(wgmma_regions.hi[idx] << 18) + ((desc & 0xFFFFu) << 4), ((desc >> 16) & 0x3FFFu) << 4,
          ((desc >> 32) & 0x3FFFu) << 4, swizzle == 0 ? 0u : swizzle == 1 ? 3u : swizzle == 2 ? 2u : 1u};
}
inline const unsigned char* wgmma_swizzled(const WgmmaFields& f, uintptr_t a) {
  return reinterpret_cast<const unsigned char*>(f.s ? a ^ (((a >> 7) & ((1u << f.s) - 1u)) << 4) : a);
}

// K-major: host address of 16-byte chunk `chunk` (0 or 1: the 32 K-bytes of one wgmma) of row `row`.
inline const unsigned char* wgmma_chunk(const WgmmaFields& f, unsigned row, unsigned chunk) {
  if (!f.s) return wgmma_swizzled(f, f.start + (row / 8) * f.sbo + (row % 8) * 16 + chunk * f.lbo);
  return wgmma_swizzled(f, f.start + (row / 8) * f.sbo + (row % 8) * (16u << f.s) + chunk * 16);
}

// MN-major (16-bit elements): host address of element `mn` of k row `k` (0 .. 15).
inline const unsigned char* wgmma_mn_element(const WgmmaFields& f, unsigned mn, unsigned k) {
  const unsigned byte = 2 * mn;
  if (!f.s) return wgmma_swizzled(f, f.start + (byte / 16) * f.sbo + (k / 8) * f.lbo + (k % 8) * 16 + byte % 16);
  const unsigned R = 16u << f.s;
  return wgmma_swizzled(f, f.start + (byte / R) * f.lbo + (k / 8) * f.sbo + (k % 8) * R + byte % R);
}

struct WgmmaOp {
  bool busy = false, done = false;
  unsigned arrived = 0, unread = 0;
  int kind = 0, n = 0, scale_d = 0, trans_b = 0;
  uint64_t da = 0, db = 0;
  float a[64][32];  // decoded A (64 x depth) and B (n x depth)
  float b[256][32];
};
// Two records per warpgroup: a thread that has read one op may start the next while others still
// read; it cannot get further ahead, because the next op completes only once all 128 arrived.
struct WgmmaGroup {
  WgmmaOp ops[2];
};
inline WgmmaGroup wgmma_groups[kMaxThreads / 128];

inline void wgmma_decode(WgmmaOp& op) {
  const char* what = wgmma_name(op.kind);
  const bool fp8 = op.kind == kWgmmaE4m3;
  const unsigned depth = fp8 ? 32 : 16;
  auto rows = [&](uint64_t desc, unsigned nrows, float (*out)[32]) {
    const WgmmaFields f = wgmma_fields(what, desc);
    for (unsigned r = 0; r < nrows; ++r)
      for (unsigned c = 0; c < 2; ++c) {
        const unsigned char* p = wgmma_chunk(f, r, c);
        for (unsigned e = 0; e < depth / 2; ++e) {
          if (fp8) {
            out[r][c * 16 + e] = e4m3_bits_to_float(p[e]);
          } else {
            uint16_t h;
            std::memcpy(&h, p + 2 * e, 2);
            out[r][c * 8 + e] = bf16_bits_to_float(h);
          }
        }
      }
  };
  rows(op.da, 64, op.a);
  if (!op.trans_b) {
    rows(op.db, static_cast<unsigned>(op.n), op.b);
    return;
  }
  const WgmmaFields f = wgmma_fields(what, op.db);
  for (unsigned n = 0; n < static_cast<unsigned>(op.n); ++n)
    for (unsigned k = 0; k < depth; ++k) {
      uint16_t h;
      std::memcpy(&h, wgmma_mn_element(f, n, k), 2);
      op.b[n][k] = bf16_bits_to_float(h);
    }
}

inline void wgmma(int kind, int n, float* d, uint64_t da, uint64_t db, int scale_d, int trans_b = 0) {
  const char* what = wgmma_name(kind);
  if (trans_b && kind == kWgmmaE4m3) fatal("%s: e4m3 wgmma has no transposed (MN-major) B", what);
  Fiber* f = g.cur;
  if (!f) fatal("%s called outside a kernel", what);
  if (g.nthreads % 128)
    fatal("%s: the block has %u threads; wgmma needs whole warpgroups (a multiple of 128)", what, g.nthreads);
  const unsigned grp = f->linear / 128;
  for (unsigned i = grp * 128; i < grp * 128 + 128; ++i)
    if (g.fibers[i].state == kDone)
      fatal("%s: thread %u of warpgroup %u has returned; wgmma needs all 128 threads", what, i, grp);
  WgmmaGroup& G = wgmma_groups[grp];
  WgmmaOp* op = nullptr;
  for (WgmmaOp& o : G.ops)
    if (o.busy && !o.done) op = &o;  // in flight: join it
  if (!op) {
    for (WgmmaOp& o : G.ops)
      if (!o.busy && !op) op = &o;
    if (!op) fatal("%s: warpgroup %u has no free wgmma record (internal error)", what, grp);
    op->busy = true, op->done = false, op->arrived = 0;
    op->kind = kind, op->n = n, op->scale_d = scale_d, op->trans_b = trans_b, op->da = da, op->db = db;
  } else if (op->kind != kind || op->n != n || op->da != da || op->db != db || (op->scale_d != 0) != (scale_d != 0) ||
             op->trans_b != trans_b) {
    fatal("%s: threads of warpgroup %u disagree: this one has N = %d, descA 0x%016llx, descB 0x%016llx, scaleD %d, "
          "transB %d; the first had %s N = %d, 0x%016llx, 0x%016llx, %d, %d",
          what, grp, n, (unsigned long long)da, (unsigned long long)db, scale_d, trans_b, wgmma_name(op->kind), op->n,
          (unsigned long long)op->da, (unsigned long long)op->db, op->scale_d, op->trans_b);
  }
  if (++op->arrived == 128) {
    wgmma_decode(*op);
    op->done = true;
    op->unread = 128;
    for (unsigned i = grp * 128; i < grp * 128 + 128; ++i)
      if (g.fibers[i].state == kWarp) g.fibers[i].state = kRunnable;
  } else {
    f->state = kWarp;
    yield_current();
  }
  const unsigned wr = (f->linear % 128) / 32, lane = f->linear & 31u, gid = lane >> 2, t = lane & 3u;
  const int depth = kind == kWgmmaE4m3 ? 32 : 16;
  for (int i = 0; i < n / 2; ++i) {
    const unsigned row = 16 * wr + gid + ((i & 2) ? 8u : 0u), col = 8 * static_cast<unsigned>(i / 4) + 2 * t + (i & 1);
    float acc = scale_d ? d[i] : 0.0f;
    for (int k = 0; k < depth; ++k) acc = std::fma(op->a[row][k], op->b[col][k], acc);
    d[i] = acc;
  }
  if (--op->unread == 0) op->busy = false;
}

}  // namespace mimo_emu
