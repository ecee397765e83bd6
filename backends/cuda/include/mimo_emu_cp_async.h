// mimo_emu_cp_async.h — cp.async for the CPU emulator (included by mimo_cuda_emu.h; the device
// functions are in mimo_cp_async.cuh). A copy reads its source when issued but writes shared memory
// only when the cp.async.wait_group that retires its group runs: the latest completion the PTX ISA
// allows, so a kernel that reads the tile before waiting (or waits for too few groups) reads the old
// contents and fails its tests instead of passing by luck. Misaligned addresses abort, as a GPU faults.
#pragma once

#include <deque>
#include <vector>

namespace mimo_emu {

struct AsyncCopy {
  unsigned char* dst;
  unsigned char bytes[16];
};

// Per thread of the running block (blocks run one after another): copies not yet committed, and
// committed groups oldest first.
struct AsyncQueue {
  std::vector<AsyncCopy> open;
  std::deque<std::vector<AsyncCopy>> groups;
};

inline AsyncQueue& async_queue() {
  static std::vector<AsyncQueue> queues;
  if (!g.cur) fatal("cp.async used outside a kernel");
  if (queues.size() <= g.cur->linear) queues.resize(g.cur->linear + 1);
  return queues[g.cur->linear];
}

inline void cp_async16(void* dst, const void* src, int src_bytes) {
  if (src_bytes < 0 || src_bytes > 16) fatal("cp.async: src-size %d is outside 0..16 bytes", src_bytes);
  if (reinterpret_cast<std::uintptr_t>(dst) & 15u) fatal("cp.async: shared address %p is not 16-byte aligned", dst);
  if (src_bytes > 0 && (reinterpret_cast<std::uintptr_t>(src) & 15u))
    fatal("cp.async: global address %p is not 16-byte aligned", src);
  AsyncCopy c{static_cast<unsigned char*>(dst), {}};
  if (src_bytes > 0) std::memcpy(c.bytes, src, static_cast<size_t>(src_bytes));
  async_queue().open.push_back(c);
}

inline void cp_async_commit() {
  AsyncQueue& q = async_queue();
  q.groups.push_back(std::move(q.open));
  q.open.clear();
}

inline void cp_async_wait(int pending) {
  AsyncQueue& q = async_queue();
  while (q.groups.size() > static_cast<size_t>(pending)) {
    for (const AsyncCopy& c : q.groups.front()) std::memcpy(c.dst, c.bytes, sizeof c.bytes);
    q.groups.pop_front();
  }
}

}  // namespace mimo_emu
