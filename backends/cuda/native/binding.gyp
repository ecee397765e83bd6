# The CUDA driver addon (build.mjs runs node-gyp on it). Not at the repository root, so that
# installing the package never builds it. It links no CUDA library: addon.cc loads libcuda.so.1
# with dlopen when first used.
{
  "targets": [
    {
      "target_name": "mimo_cuda",
      "sources": ["addon.cc", "cuda_driver.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-fexceptions", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-ldl"]
    }
  ]
}
