/** Part of every cache key and generated-file header: bump when generated code changes meaning. */
export const COMPILER_VERSION = 'mimo-kc 0.1.0';
