#include "cuda_driver.h"

#include <dlfcn.h>

namespace mimo_cu {
namespace {

std::string describeWith(const Driver& d, const char* what, CUresult r) {
  const char* name = nullptr;
  const char* text = nullptr;
  // Both leave the pointer unset for a code the driver does not know.
  d.cuGetErrorName(r, &name);
  d.cuGetErrorString(r, &text);
  return std::string(what) + " failed: " + (name ? name : "unknown CUresult") + " " + std::to_string(r) +
         (text ? std::string(" (") + text + ")" : std::string());
}

struct Loaded {
  Driver d;
  std::string error;  // empty when the driver is usable
};

Loaded load() {
  Loaded l;
  // Looked up at run time, not linked: the addon has to load where there is no driver, so
  // that it can say so.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    l.error = std::string("no CUDA device: the NVIDIA driver library libcuda.so.1 was not found (") + dlerror() + ")";
    return l;
  }
#define MIMO_CU_LOAD(name, ret, params)                                                              \
  l.d.name = reinterpret_cast<name##_fn>(dlsym(lib, #name));                                         \
  if (!l.d.name) {                                                                                   \
    l.error = "no CUDA device: the driver library libcuda.so.1 has no " #name " (the driver is too old)"; \
    return l;                                                                                        \
  }
  MIMO_CU_FUNCTIONS(MIMO_CU_LOAD)
#undef MIMO_CU_LOAD
  CUresult r = l.d.cuInit(0);
  if (r != CUDA_SUCCESS) {
    l.error = "no CUDA device: " + describeWith(l.d, "cuInit", r);
    return l;
  }
  int count = 0;
  r = l.d.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS) {
    l.error = "no CUDA device: " + describeWith(l.d, "cuDeviceGetCount", r);
  } else if (count == 0) {
    int version = 0;
    l.d.cuDriverGetVersion(&version);
    l.error = "no CUDA device: the driver (CUDA " + std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10) +
              ") reports 0 devices";
  }
  return l;
}

}  // namespace

const Driver& driver() {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) throw NoDevice{loaded.error};
  return loaded.d;
}

std::string describe(const char* what, CUresult r) { return describeWith(driver(), what, r); }

}  // namespace mimo_cu
