/** WGSL keywords and reserved words (WGSL spec §15) plus names our generated code declares. */
export const WGSL_RESERVED = new Set(`
alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop
override requires return struct switch true var while array atomic bool f16 f32 i32 u32 ptr sampler vec2 vec3 vec4
mat2x2 mat3x3 mat4x4 NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await become
binding_array cast catch class co_await co_return co_yield coherent column_major common compile compile_fragment concept
const_cast consteval constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast enum
explicit export extends extern external fallthrough filter final finally friend from fxgroup get goto groupshared highp
impl implements import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut
mutable namespace new nil noexcept noinline nointerpolation noperspective null nullptr of operator package packoffset
partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register
reinterpret_cast require resource restrict self set shared signed sizeof smooth snorm static static_assert static_cast std
subroutine super target template this thread_local throw trait try type typedef typeid typename typeof union unless unorm
unsafe unsized use using varying virtual volatile wgsl where with writeonly yield
main params lid wid nwg lidx sg_lane sg_size exp exp2 log sqrt inverseSqrt tanh abs floor max min fma select bitcast
workgroupBarrier atomicAdd atomicMax atomicAnd atomicOr atomicLoad atomicStore subgroupAdd subgroupMax subgroupShuffleXor
`.split(/\s+/).filter(Boolean));
