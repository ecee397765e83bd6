/** C++ keywords and names CUDA code or our prelude already uses. */
export const CUDA_RESERVED = new Set(`
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class compl concept
const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default delete do double
dynamic_cast else enum explicit export extern false float for friend goto if inline int long mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public register reinterpret_cast requires return short
signed sizeof static static_assert static_cast struct switch template this thread_local throw true try typedef typeid
typename union unsigned using virtual void volatile wchar_t while xor xor_eq
threadIdx blockIdx blockDim gridDim warpSize dim3 stream grid block expf exp2f logf sqrtf rsqrtf tanhf fabsf floorf fmaxf
fminf fmaf abs max min memcpy
`.split(/\s+/).filter(Boolean));
