// Node bindings of the CUDA Driver API calls the runtime makes (backends/cuda/runtime.ts):
// device probe, primary context and one stream, modules from cubin images, memory, copies,
// launches and events. Handles travel as BigInt; every failure is a JS exception naming the
// call and its CUresult. The calls run on the main thread, where open() made the context
// current, except synchronize, which waits for the GPU on a worker thread.
#include <napi.h>

#include <array>
#include <cstring>
#include <vector>

#include "cuda_driver.h"

using namespace mimo_cu;

namespace {

const Driver& cu(Napi::Env env) {
  try {
    return driver();
  } catch (const NoDevice& e) {
    throw Napi::Error::New(env, e.message);
  }
}

void check(Napi::Env env, CUresult r, const char* what) {
  if (r != CUDA_SUCCESS) throw Napi::Error::New(env, describe(what, r));
}

uint64_t handle(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsBigInt()) throw Napi::TypeError::New(info.Env(), std::string("mimo_cuda: ") + what + " must be a BigInt handle");
  bool lossless = false;
  const uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(info.Env(), std::string("mimo_cuda: ") + what + " does not fit 64 bits");
  return v;
}

template <class T>
T as(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return reinterpret_cast<T>(static_cast<uintptr_t>(handle(info, i, what)));
}

Napi::BigInt big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }
template <class T>
Napi::BigInt big(Napi::Env env, T* p) { return big(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p))); }

size_t count(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("mimo_cuda: ") + what + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 9007199254740991.0 && v == static_cast<double>(static_cast<uint64_t>(v)))) {
    throw Napi::RangeError::New(info.Env(), std::string("mimo_cuda: ") + what + " must be a whole number >= 0, got " + std::to_string(v));
  }
  return static_cast<size_t>(v);
}

std::array<unsigned, 3> dims(const Napi::CallbackInfo& info, size_t i, const char* what) {
  const Napi::Array a = info[i].As<Napi::Array>();
  if (!info[i].IsArray() || a.Length() != 3) throw Napi::TypeError::New(info.Env(), std::string("mimo_cuda: ") + what + " must be [x, y, z]");
  std::array<unsigned, 3> out{};
  for (uint32_t k = 0; k < 3; k++) out[k] = a.Get(k).As<Napi::Number>().Uint32Value();
  return out;
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const Driver* d = nullptr;
  try {
    d = &driver();
  } catch (const NoDevice& e) {
    out.Set("ok", false);
    out.Set("reason", e.message);
    return out;
  }
  int version = 0, n = 0;
  check(env, d->cuDriverGetVersion(&version), "cuDriverGetVersion");
  check(env, d->cuDeviceGetCount(&n), "cuDeviceGetCount");
  Napi::Array devices = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) {
    CUdevice dev = 0;
    check(env, d->cuDeviceGet(&dev, i), "cuDeviceGet");
    char name[256] = {};
    check(env, d->cuDeviceGetName(name, sizeof name - 1, dev), "cuDeviceGetName");
    int major = 0, minor = 0, sms = 0;
    check(env, d->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)");
    check(env, d->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MINOR)");
    check(env, d->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev), "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)");
    size_t mem = 0;
    check(env, d->cuDeviceTotalMem_v2(&mem, dev), "cuDeviceTotalMem_v2");
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", name);
    Napi::Array cc = Napi::Array::New(env, 2);
    cc.Set(0u, major);
    cc.Set(1u, minor);
    o.Set("cc", cc);
    o.Set("sms", sms);
    o.Set("memBytes", static_cast<double>(mem));
    devices.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("ok", true);
  out.Set("driverVersion", version);
  out.Set("devices", devices);
  return out;
}

// open(ordinal) -> { context, stream }: the device's primary context, current on this thread
// from now on, and one stream that synchronises with the legacy default stream.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  CUdevice dev = 0;
  check(env, d.cuDeviceGet(&dev, static_cast<int>(count(info, 0, "device ordinal"))), "cuDeviceGet");
  CUcontext ctx = nullptr;
  check(env, d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
  CUstream stream = nullptr;
  const char* failed = "cuCtxSetCurrent";
  CUresult r = d.cuCtxSetCurrent(ctx);
  if (r == CUDA_SUCCESS) {
    failed = "cuStreamCreate";
    r = d.cuStreamCreate(&stream, CU_STREAM_DEFAULT);
  }
  if (r != CUDA_SUCCESS) {
    const std::string msg = describe(failed, r);
    d.cuDevicePrimaryCtxRelease_v2(dev);
    throw Napi::Error::New(env, msg);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("context", big(env, ctx));
  out.Set("stream", big(env, stream));
  return out;
}

// close(ordinal, stream): destroys the stream and releases the primary context.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  CUdevice dev = 0;
  check(env, d.cuDeviceGet(&dev, static_cast<int>(count(info, 0, "device ordinal"))), "cuDeviceGet");
  check(env, d.cuStreamDestroy_v2(as<CUstream>(info, 1, "stream")), "cuStreamDestroy_v2");
  check(env, d.cuDevicePrimaryCtxRelease_v2(dev), "cuDevicePrimaryCtxRelease_v2");
  return env.Undefined();
}

Napi::Value ModuleLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "mimo_cuda: moduleLoad needs the cubin image as a Uint8Array");
  const Napi::TypedArray image = info[0].As<Napi::TypedArray>();
  const auto* data = static_cast<const uint8_t*>(image.ArrayBuffer().Data()) + image.ByteOffset();
  CUmodule m = nullptr;
  check(env, d.cuModuleLoadData(&m, data), "cuModuleLoadData");
  return big(env, m);
}

Napi::Value ModuleUnload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, cu(env).cuModuleUnload(as<CUmodule>(info, 0, "module")), "cuModuleUnload");
  return env.Undefined();
}

Napi::Value ModuleFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  CUfunction fn = nullptr;
  const std::string what = "cuModuleGetFunction(" + name + ")";
  check(env, cu(env).cuModuleGetFunction(&fn, as<CUmodule>(info, 0, "module"), name.c_str()), what.c_str());
  return big(env, fn);
}

// setMaxDynamicShared(fn, bytes): lets launches of `fn` pass up to `bytes` of dynamic shared
// memory; past 48 KiB a launch fails without it.
Napi::Value SetMaxDynamicShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = count(info, 1, "dynamic shared memory bytes");
  const std::string what = "cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, " + std::to_string(bytes) + ")";
  check(env, cu(env).cuFuncSetAttribute(as<CUfunction>(info, 0, "function"), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(bytes)), what.c_str());
  return env.Undefined();
}

Napi::Value MemAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t bytes = count(info, 0, "allocation size");
  CUdeviceptr p = 0;
  const std::string what = "cuMemAlloc_v2(" + std::to_string(bytes) + " bytes)";
  check(env, cu(env).cuMemAlloc_v2(&p, bytes), what.c_str());
  return big(env, p);
}

Napi::Value MemFree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, cu(env).cuMemFree_v2(handle(info, 0, "device pointer")), "cuMemFree_v2");
  return env.Undefined();
}

// memset(ptr, byte, bytes, stream)
Napi::Value Memset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto value = static_cast<unsigned char>(count(info, 1, "fill byte"));
  check(env, cu(env).cuMemsetD8Async(handle(info, 0, "device pointer"), value, count(info, 2, "byte count"), as<CUstream>(info, 3, "stream")), "cuMemsetD8Async");
  return env.Undefined();
}

// upload(ptr, hostView, stream): returns once the copy is done. A copy from pageable memory
// may still be reading the caller's array after an async call returns, and the array is
// JavaScript's to reuse or collect, so the stream is waited for before returning.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "mimo_cuda: upload needs a typed array");
  const Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  const auto* data = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
  const CUstream stream = as<CUstream>(info, 2, "stream");
  check(env, d.cuMemcpyHtoDAsync_v2(handle(info, 0, "device pointer"), data, src.ByteLength(), stream), "cuMemcpyHtoDAsync_v2");
  check(env, d.cuStreamSynchronize(stream), "cuStreamSynchronize (after an upload)");
  return env.Undefined();
}

// copy(dst, src, bytes, stream): device to device, in stream order.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, cu(env).cuMemcpyDtoDAsync_v2(handle(info, 0, "destination pointer"), handle(info, 1, "source pointer"), count(info, 2, "byte count"), as<CUstream>(info, 3, "stream")), "cuMemcpyDtoDAsync_v2");
  return env.Undefined();
}

// download(ptr, bytes, stream) -> ArrayBuffer, queued now, behind everything called before it
// and ahead of anything called after. A copy into pageable memory returns once it is done.
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  const size_t bytes = count(info, 1, "byte count");
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) check(env, d.cuMemcpyDtoHAsync_v2(out.Data(), handle(info, 0, "device pointer"), bytes, as<CUstream>(info, 2, "stream")), "cuMemcpyDtoHAsync_v2");
  return out;
}

// Waits on a worker thread for everything queued on the stream, so that the event loop runs
// meanwhile; settles a promise.
class StreamWait : public Napi::AsyncWorker {
 public:
  StreamWait(Napi::Env env, CUcontext ctx, CUstream stream)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), ctx_(ctx), stream_(stream) {}
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      const Driver& d = driver();
      // The context is current per thread; this one is a pool thread.
      CUresult r = d.cuCtxSetCurrent(ctx_);
      if (r != CUDA_SUCCESS) return SetError(describe("cuCtxSetCurrent", r));
      r = d.cuStreamSynchronize(stream_);
      if (r != CUDA_SUCCESS) SetError(describe("cuStreamSynchronize", r));
    } catch (const NoDevice& e) {
      SetError(e.message);
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  CUcontext ctx_;
  CUstream stream_;
};

// synchronize(context, stream) -> Promise<void>
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  cu(info.Env());
  auto* w = new StreamWait(info.Env(), as<CUcontext>(info, 0, "context"), as<CUstream>(info, 1, "stream"));
  w->Queue();
  return w->promise();
}

// launch(fn, grid, block, sharedBytes, stream, types, values): `types` has one letter per
// kernel parameter, in the __global__ function's order: p (device pointer, a BigInt),
// i (int), u (unsigned), f (float). cuLaunchKernel reads each parameter's bytes through
// its pointer before returning, so the storage may live on this stack frame.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Driver& d = cu(env);
  const CUfunction fn = as<CUfunction>(info, 0, "function");
  const auto grid = dims(info, 1, "grid");
  const auto block = dims(info, 2, "block");
  const auto shared = static_cast<unsigned>(count(info, 3, "shared memory bytes"));
  const CUstream stream = as<CUstream>(info, 4, "stream");
  const std::string types = info[5].As<Napi::String>().Utf8Value();
  const Napi::Array values = info[6].As<Napi::Array>();
  if (values.Length() != types.size()) throw Napi::TypeError::New(env, "mimo_cuda: launch has " + std::to_string(types.size()) + " parameter types and " + std::to_string(values.Length()) + " values");
  std::vector<uint64_t> storage(types.size(), 0);
  std::vector<void*> params(types.size());
  for (uint32_t i = 0; i < types.size(); i++) {
    const Napi::Value v = values.Get(i);
    void* slot = &storage[i];
    switch (types[i]) {
      case 'p': {
        if (!v.IsBigInt()) throw Napi::TypeError::New(env, "mimo_cuda: launch parameter " + std::to_string(i) + " is a pointer and must be a BigInt");
        bool lossless = false;
        storage[i] = v.As<Napi::BigInt>().Uint64Value(&lossless);
        if (!lossless) throw Napi::RangeError::New(env, "mimo_cuda: launch parameter " + std::to_string(i) + " does not fit 64 bits");
        break;
      }
      case 'i': { const int32_t x = v.As<Napi::Number>().Int32Value(); std::memcpy(slot, &x, sizeof x); break; }
      case 'u': { const uint32_t x = v.As<Napi::Number>().Uint32Value(); std::memcpy(slot, &x, sizeof x); break; }
      case 'f': { const float x = v.As<Napi::Number>().FloatValue(); std::memcpy(slot, &x, sizeof x); break; }
      default: throw Napi::TypeError::New(env, std::string("mimo_cuda: unknown launch parameter type '") + types[i] + "'");
    }
    params[i] = slot;
  }
  check(env, d.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, stream, params.data(), nullptr), "cuLaunchKernel");
  return env.Undefined();
}

Napi::Value EventCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CUevent e = nullptr;
  check(env, cu(env).cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate");
  return big(env, e);
}

Napi::Value EventRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, cu(env).cuEventRecord(as<CUevent>(info, 0, "event"), as<CUstream>(info, 1, "stream")), "cuEventRecord");
  return env.Undefined();
}

// eventElapsed(start, end) -> milliseconds; both must have completed (synchronize first).
Napi::Value EventElapsed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  float ms = 0;
  check(env, cu(env).cuEventElapsedTime(&ms, as<CUevent>(info, 0, "start event"), as<CUevent>(info, 1, "end event")), "cuEventElapsedTime");
  return Napi::Number::New(env, ms);
}

Napi::Value EventDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env, cu(env).cuEventDestroy_v2(as<CUevent>(info, 0, "event")), "cuEventDestroy_v2");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("moduleLoad", Napi::Function::New(env, ModuleLoad));
  exports.Set("moduleUnload", Napi::Function::New(env, ModuleUnload));
  exports.Set("moduleFunction", Napi::Function::New(env, ModuleFunction));
  exports.Set("setMaxDynamicShared", Napi::Function::New(env, SetMaxDynamicShared));
  exports.Set("memAlloc", Napi::Function::New(env, MemAlloc));
  exports.Set("memFree", Napi::Function::New(env, MemFree));
  exports.Set("memset", Napi::Function::New(env, Memset));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("launch", Napi::Function::New(env, Launch));
  exports.Set("eventCreate", Napi::Function::New(env, EventCreate));
  exports.Set("eventRecord", Napi::Function::New(env, EventRecord));
  exports.Set("eventElapsed", Napi::Function::New(env, EventElapsed));
  exports.Set("eventDestroy", Napi::Function::New(env, EventDestroy));
  return exports;
}

}  // namespace

NODE_API_MODULE(mimo_cuda, Init)
