// The few CUDA Driver API types and entry points the runtime uses, declared here rather than
// taken from cuda.h: the addon must build on machines without the CUDA toolkit and load on
// machines without the driver. The ABI is the documented one (CUresult and the attribute enums
// are 32-bit ints, handles are pointers to opaque structs, CUdeviceptr is 64-bit);
// abi_check.cc compares every declaration here with cuda.h where one is installed.
#pragma once

#include <cstddef>
#include <string>

// The same global struct tags as cuda.h, so that the handle types are identical to its own.
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUevent_st;

namespace mimo_cu {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = CUctx_st*;
using CUmodule = CUmod_st*;
using CUfunction = CUfunc_st*;
using CUstream = CUstream_st*;
using CUevent = CUevent_st*;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr unsigned CU_STREAM_DEFAULT = 0;
constexpr unsigned CU_EVENT_DEFAULT = 0;

// X(symbol, return type, parameter list): the name is the one libcuda.so.1 exports (the _v2
// names that cuda.h's macros select), looked up with dlsym. cuEventElapsedTime is the original
// entry point, which every driver exports (its _v2 needs a 12.8 driver).
#define MIMO_CU_FUNCTIONS(X)                                                                       \
  X(cuInit, CUresult, (unsigned int flags))                                                        \
  X(cuDriverGetVersion, CUresult, (int* version))                                                  \
  X(cuGetErrorName, CUresult, (CUresult error, const char** name))                                 \
  X(cuGetErrorString, CUresult, (CUresult error, const char** text))                               \
  X(cuDeviceGetCount, CUresult, (int* count))                                                      \
  X(cuDeviceGet, CUresult, (CUdevice * device, int ordinal))                                       \
  X(cuDeviceGetName, CUresult, (char* name, int len, CUdevice device))                             \
  X(cuDeviceGetAttribute, CUresult, (int* value, int attribute, CUdevice device))                  \
  X(cuDeviceTotalMem_v2, CUresult, (size_t * bytes, CUdevice device))                              \
  X(cuDevicePrimaryCtxRetain, CUresult, (CUcontext * ctx, CUdevice device))                        \
  X(cuDevicePrimaryCtxRelease_v2, CUresult, (CUdevice device))                                     \
  X(cuCtxSetCurrent, CUresult, (CUcontext ctx))                                                    \
  X(cuModuleLoadData, CUresult, (CUmodule * module, const void* image))                            \
  X(cuModuleUnload, CUresult, (CUmodule module))                                                   \
  X(cuModuleGetFunction, CUresult, (CUfunction * fn, CUmodule module, const char* name))           \
  X(cuFuncSetAttribute, CUresult, (CUfunction fn, int attribute, int value))                      \
  X(cuMemAlloc_v2, CUresult, (CUdeviceptr * ptr, size_t bytes))                                    \
  X(cuMemFree_v2, CUresult, (CUdeviceptr ptr))                                                     \
  X(cuMemcpyHtoDAsync_v2, CUresult, (CUdeviceptr dst, const void* src, size_t bytes, CUstream s)) \
  X(cuMemcpyDtoHAsync_v2, CUresult, (void* dst, CUdeviceptr src, size_t bytes, CUstream s))       \
  X(cuMemcpyDtoDAsync_v2, CUresult, (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s)) \
  X(cuMemsetD8Async, CUresult, (CUdeviceptr dst, unsigned char value, size_t count, CUstream s))  \
  X(cuStreamCreate, CUresult, (CUstream * stream, unsigned int flags))                             \
  X(cuStreamDestroy_v2, CUresult, (CUstream stream))                                               \
  X(cuStreamSynchronize, CUresult, (CUstream stream))                                              \
  X(cuLaunchKernel, CUresult,                                                                      \
    (CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,            \
     unsigned int by, unsigned int bz, unsigned int sharedBytes, CUstream stream, void** params,   \
     void** extra))                                                                                \
  X(cuEventCreate, CUresult, (CUevent * event, unsigned int flags))                                \
  X(cuEventRecord, CUresult, (CUevent event, CUstream stream))                                     \
  X(cuEventElapsedTime, CUresult, (float* ms, CUevent start, CUevent end))                         \
  X(cuEventDestroy_v2, CUresult, (CUevent event))

#define MIMO_CU_POINTER(name, ret, params) using name##_fn = ret(*) params;
MIMO_CU_FUNCTIONS(MIMO_CU_POINTER)
#undef MIMO_CU_POINTER

struct Driver {
#define MIMO_CU_FIELD(name, ret, params) name##_fn name = nullptr;
  MIMO_CU_FUNCTIONS(MIMO_CU_FIELD)
#undef MIMO_CU_FIELD
};

// The driver, loaded and initialised on first use; throws NoDevice when there is none.
const Driver& driver();

// Why there is no usable driver or device; the message starts with "no CUDA device: ".
struct NoDevice {
  std::string message;
};

// "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; `what` names the call.
std::string describe(const char* what, CUresult r);

}  // namespace mimo_cu
