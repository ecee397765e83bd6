import type { TargetReserved } from '../naming.js';

/**
 * Names a WGSL identifier of ours must not take (compiler/codegen/naming.ts renames them):
 * keywords and reserved words (WGSL spec, "Keyword and Token Summary" and "Reserved
 * Words"), predeclared types, enumerants and built-in functions (a declaration may shadow
 * them, but then our own uses of `f32`, `max` or `select` in that scope break), and the
 * names our generated module declares.
 */
const KEYWORDS = `
alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop
override requires return struct switch true var while
`;
const RESERVED_WORDS = `
NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await become binding_array cast catch
class co_await co_return co_yield coherent column_major common compile compile_fragment concept const_cast consteval
constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast enum explicit export extends
extern external fallthrough filter final finally friend from fxgroup get goto groupshared handle highp impl implements
import inline inout instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable
namespace new nil noexcept noinline nointerpolation noperspective null nullptr of operator package packoffset partition
pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register
reinterpret_cast require resource restrict self set shared signed sizeof smooth snorm static static_assert static_cast
std subroutine super target template this thread_local throw trait try type typedef typeid typename typeof union unless
unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield
CompileShader ComputeShader DomainShader GeometryShader Hullshader
`;
const TYPES = `
array atomic bool f16 f32 i32 u32 i64 u64 vec2 vec3 vec4 ptr sampler sampler_comparison
texture_1d texture_2d texture_2d_array texture_3d texture_cube texture_cube_array texture_multisampled_2d
texture_depth_multisampled_2d texture_external texture_storage_1d texture_storage_2d texture_storage_2d_array
texture_storage_3d texture_depth_2d texture_depth_2d_array texture_depth_cube texture_depth_cube_array
`;
const ENUMERANTS = `
read write read_write function private workgroup uniform storage
rgba8unorm rgba8snorm rgba8uint rgba8sint rgba16uint rgba16sint rgba16float r32uint r32sint r32float rg32uint rg32sint
rg32float rgba32uint rgba32sint rgba32float bgra8unorm r8unorm r8snorm r8uint r8sint rg8unorm rg8snorm rg8uint rg8sint
r16uint r16sint r16float rg16uint rg16sint rg16float rgb10a2uint rgb10a2unorm rg11b10ufloat
`;
const BUILTIN_FUNCTIONS = `
bitcast all any select arrayLength abs acos acosh asin asinh atan atanh atan2 ceil clamp cos cosh countLeadingZeros
countOneBits countTrailingZeros cross degrees determinant distance dot dot4U8Packed dot4I8Packed exp exp2 extractBits
faceForward firstLeadingBit firstTrailingBit floor fma fract frexp insertBits inverseSqrt ldexp length log log2 max min
mix modf normalize pow quantizeToF16 radians reflect refract reverseBits round saturate sign sin sinh smoothstep sqrt
step tan tanh transpose trunc dpdx dpdxCoarse dpdxFine dpdy dpdyCoarse dpdyFine fwidth fwidthCoarse fwidthFine
textureDimensions textureGather textureGatherCompare textureLoad textureNumLayers textureNumLevels textureNumSamples
textureSample textureSampleBias textureSampleCompare textureSampleCompareLevel textureSampleGrad textureSampleLevel
textureSampleBaseClampToEdge textureStore atomicLoad atomicStore atomicAdd atomicSub atomicMax atomicMin atomicAnd
atomicOr atomicXor atomicExchange atomicCompareExchangeWeak pack4x8snorm pack4x8unorm pack4xI8 pack4xU8 pack4xI8Clamp
pack4xU8Clamp pack2x16snorm pack2x16unorm pack2x16float unpack4x8snorm unpack4x8unorm unpack4xI8 unpack4xU8
unpack2x16snorm unpack2x16unorm unpack2x16float storageBarrier textureBarrier workgroupBarrier workgroupUniformLoad
subgroupAdd subgroupAll subgroupAnd subgroupAny subgroupBallot subgroupBroadcast subgroupBroadcastFirst subgroupElect
subgroupExclusiveAdd subgroupExclusiveMul subgroupInclusiveAdd subgroupInclusiveMul subgroupMax subgroupMin subgroupMul
subgroupOr subgroupShuffle subgroupShuffleDown subgroupShuffleUp subgroupShuffleXor subgroupXor quadBroadcast
quadSwapDiagonal quadSwapX quadSwapY
`;
/** Declared by emitWgsl: the entry point, the uniform struct and its variable, the builtin parameters. */
const GENERATED = 'main Params params lid wid nwg lidx sg_lane sg_size';

/** vec2i ... vec4h, mat2x2 ... mat4x4 and their f32/f16 aliases. */
const ALIASES = [
  ...['i', 'u', 'f', 'h'].flatMap((s) => [2, 3, 4].map((n) => `vec${n}${s}`)),
  ...['', 'f', 'h'].flatMap((s) => [2, 3, 4].flatMap((c) => [2, 3, 4].map((r) => `mat${c}x${r}${s}`))),
];

const words = (s: string) => s.split(/\s+/).filter(Boolean);
const WORDS = new Set([...words(KEYWORDS), ...words(RESERVED_WORDS), ...words(TYPES), ...words(ENUMERANTS), ...words(BUILTIN_FUNCTIONS), ...words(GENERATED), ...ALIASES]);

export const WGSL_RESERVED: TargetReserved = {
  word: (n) => WORDS.has(n),
  // Our helper functions and the temporaries of packed stores are all mimo_*.
  prefix: (n) => n.startsWith('mimo_'),
};
