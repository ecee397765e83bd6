// Compile-time proof that cuda_driver.h matches the toolkit's cuda.h: every entry point has
// the same parameter and return types (cuda.h's enums read as the 32-bit ints they are
// passed as) and every constant the same value. Not part of the addon; test/cuda-native.test.ts
// compiles it with `g++ -fsyntax-only -I<cuda>/include` where cuda.h is installed.
#include <cuda.h>

#include <type_traits>

#include "cuda_driver.h"

namespace {

template <class T, class = void>
struct Norm {
  using type = T;
};
template <class T>
struct Norm<T, std::enable_if_t<std::is_enum_v<T>>> {
  static_assert(sizeof(T) == sizeof(int), "a CUDA enum that is not 32 bits wide");
  using type = int;
};
template <class T>
struct Norm<T*, void> {
  using type = typename Norm<T>::type*;
};
template <class T>
struct Norm<const T, void> {
  using type = const typename Norm<T>::type;
};
template <class R, class... A>
struct Norm<R (*)(A...), void> {
  using type = typename Norm<R>::type (*)(typename Norm<A>::type...);
};

// cuda.h's names for the entry points are macros for the exported symbols (cuMemAlloc ->
// cuMemAlloc_v2), and ours are the symbols; `&::name` reads cuda.h's declaration of the symbol.
#define MIMO_CU_SAME(name, ret, params)                                                        \
  static_assert(std::is_same_v<Norm<decltype(&::name)>::type, Norm<mimo_cu::name##_fn>::type>, \
                #name ": cuda_driver.h disagrees with cuda.h");
MIMO_CU_FUNCTIONS(MIMO_CU_SAME)

static_assert(std::is_same_v<mimo_cu::CUdeviceptr, ::CUdeviceptr>);
static_assert(std::is_same_v<mimo_cu::CUdevice, ::CUdevice>);
static_assert(std::is_same_v<mimo_cu::CUcontext, ::CUcontext> && std::is_same_v<mimo_cu::CUmodule, ::CUmodule> &&
              std::is_same_v<mimo_cu::CUfunction, ::CUfunction> && std::is_same_v<mimo_cu::CUstream, ::CUstream> &&
              std::is_same_v<mimo_cu::CUevent, ::CUevent>);
static_assert(mimo_cu::CUDA_SUCCESS == ::CUDA_SUCCESS);
static_assert(mimo_cu::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == ::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(mimo_cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(mimo_cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(mimo_cu::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES == ::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES);
static_assert(mimo_cu::CU_STREAM_DEFAULT == ::CU_STREAM_DEFAULT);
static_assert(mimo_cu::CU_EVENT_DEFAULT == ::CU_EVENT_DEFAULT);

}  // namespace
