import type { SizeExpr } from '../../ir/nodes.js';

/** A size formula as 64-bit C++ arithmetic over the launcher's int arguments, named by `ident`. */
export function sizeToCpp(e: SizeExpr, ident: (scalar: string) => string): string {
  switch (e.k) {
    case 'num': return `${e.v}LL`;
    case 'sym': return `static_cast<long long>(${ident(e.name)})`;
    case 'op': {
      const a = sizeToCpp(e.a, ident);
      const b = sizeToCpp(e.b, ident);
      switch (e.op) {
        case 'cdiv': return `((${a} + ${b} - 1) / ${b})`;
        case 'min': return `(${a} < ${b} ? ${a} : ${b})`;
        case 'max': return `(${a} > ${b} ? ${a} : ${b})`;
        default: return `(${a} ${e.op} ${b})`;
      }
    }
  }
}
