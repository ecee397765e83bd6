// mimo_emu_ldmatrix.h — ldmatrix for the CPU emulator (included by mimo_cuda_emu.h; the device
// functions are in mimo_ldmatrix.cuh). PTX ISA "ldmatrix" .m8n8 .b16: a warp collective of all 32
// lanes. Phase 1: each lane deposits its row address. Then lane l reads, for matrix j, the row that
// lane 8j + l/4 gave, 32 bits at byte 4*(l % 4); with .trans (16-bit elements) the elements at
// column l/4 of the rows lanes 8j + 2*(l % 4) and 8j + 2*(l % 4) + 1 gave, the first in bits 0..15.
// A row that is not 16-byte aligned, or lanes missing from the warp, abort as a GPU would fault.
#pragma once

namespace mimo_emu {

// Not an OpKind of mimo_cuda_emu.h: ldmatrix records must not merge with another collective's.
constexpr int kOpLdmatrix = 0x100;

inline void ldmatrix(int count, bool trans, const void* row, unsigned* const* out) {
  Slot s{};
  std::memcpy(s.w, &row, sizeof row);
  WarpOp& op = warp_arrive(0xFFFFFFFFu, kOpLdmatrix, s);
  if (op.arrived != 0xFFFFFFFFu)
    fatal("ldmatrix needs all 32 lanes of the warp (participating lanes 0x%08x)", op.arrived);
  const unsigned lane = cur_lane();
  auto row_of = [&](unsigned src) {
    const unsigned char* p;
    std::memcpy(&p, op.slot[src].w, sizeof p);
    if (reinterpret_cast<std::uintptr_t>(p) & 15u)
      fatal("ldmatrix: lane %u gave row address %p, which is not 16-byte aligned", src, static_cast<const void*>(p));
    return p;
  };
  for (int j = 0; j < count; ++j) {
    unsigned w = 0;
    if (trans) {
      for (unsigned h = 0; h < 2; ++h) {
        uint16_t e;
        std::memcpy(&e, row_of(8 * j + 2 * (lane & 3u) + h) + 2 * (lane >> 2), sizeof e);
        w |= static_cast<unsigned>(e) << (16 * h);
      }
    } else {
      std::memcpy(&w, row_of(8 * j + (lane >> 2)) + 4 * (lane & 3u), sizeof w);
    }
    *out[j] = w;
  }
  warp_done_reading(op);
}

}  // namespace mimo_emu
