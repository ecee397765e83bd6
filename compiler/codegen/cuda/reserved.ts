import type { TargetReserved } from '../naming.js';

/**
 * Names a CUDA C++ identifier of ours must not take (compiler/codegen/naming.ts renames
 * them). A generated .cu is compiled by nvcc and, for the CPU emulator, by g++ after
 * backends/cuda/include/mimo_cuda_emu.h, so a name must survive both: C++ keywords, the
 * macros those headers define (`g++ -dM -E` of the emulator build and `nvcc -E -Xcompiler
 * -dM` of the device build list them), CUDA's built-in variables and the types, functions
 * and locals the emitted kernel and launcher refer to (a parameter named `dim3` or
 * `stream` would hide them).
 */
const CPP_KEYWORDS = `
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class compl concept
const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default delete do double
dynamic_cast else enum explicit export extern false float for friend goto if inline int long mutable namespace new
noexcept not not_eq nullptr operator or or_eq private protected public register reinterpret_cast requires return short
signed sizeof static static_assert static_cast struct switch template this thread_local throw true try typedef typeid
typename union unsigned using virtual void volatile wchar_t while xor xor_eq restrict
`;
/** Macros without an underscore or with lower-case letters (the rest are caught by rule, below). */
const MACROS = `
BUFSIZ EOF INFINITY MAXFLOAT NAN NFDBITS NULL NZERO SNAN SNANF SNANF128 SNANF32 SNANF32X SNANF64 SNANF64X SNANL
WCONTINUED WEXITED WEXITSTATUS WIFCONTINUED WIFEXITED WIFSIGNALED WIFSTOPPED WNOHANG WNOWAIT WSTOPPED WSTOPSIG WTERMSIG
WUNTRACED EDOM ERANGE EILSEQ I NDEBUG
alloca assert assert_perror be16toh be32toh be64toh htobe16 htobe32 htobe64 htole16 htole32 htole64 le16toh le32toh
le64toh isascii issubnormal math_errhandling offsetof stderr stdin stdout strdupa strndupa toascii va_arg va_copy va_end
va_start errno major minor makedev unix linux i386
`;
/** CUDA built-ins and what the emitted kernel, launcher and host driver name (emitCuda.ts, hostRunner.ts). */
const USED = `
threadIdx blockIdx blockDim gridDim warpSize dim3 uint3 size_t std
expf exp2f logf sqrtf rsqrtf tanhf floorf fmaf fabsf abs max min fmaxf fminf memcpy
atomicAdd atomicMax atomicAnd atomicOr
stream grid_x grid_y grid_z main argc argv
`;

const words = (s: string) => s.split(/\s+/).filter(Boolean);
const WORDS = new Set([...words(CPP_KEYWORDS), ...words(MACROS), ...words(USED)]);

export const CUDA_RESERVED: TargetReserved = {
  // Upper-case names with an underscore are the C library's and CUDA's macro families
  // (FLT_MAX, INT32_C, EXIT_SUCCESS, CLOCK_REALTIME, ...); a counter suffix _1 leaves the family.
  word: (n) => WORDS.has(n) || (!/[a-z]/.test(n) && n.includes('_') && !/_[0-9]+$/.test(n)),
  // Prefixes of whole families: ours, the CUDA runtime's (cudaStreamDefault is a macro), math.h's M_PI...
  prefix: (n) => /^(mimo_|MIMO_|cuda|CUDA|NV_|M_[0-9A-Z])/.test(n),
};
