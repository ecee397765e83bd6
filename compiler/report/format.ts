/** The report as text: a Markdown table of resources and SASS per kernel, one of estimates per preset case. */
import type { Report } from './report.js';
import { tensorSummary } from './sass.js';

const WIDTHS = [8, 16, 32, 64, 128] as const;

const si = (v: number, unit: string): string => {
  const [d, p] = v >= 1e12 ? [1e12, 'T'] : v >= 1e9 ? [1e9, 'G'] : v >= 1e6 ? [1e6, 'M'] : v >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(v / d).toPrecision(3)} ${p}${unit}`;
};
const time = (s: number): string => (s >= 1e-3 ? `${(s * 1e3).toPrecision(3)} ms` : `${(s * 1e6).toPrecision(3)} µs`);
const pct = (f: number): string => `${f >= 0.1 ? (f * 100).toFixed(0) : (f * 100).toPrecision(2)}%`;
const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] => [row(head), row(head.map(() => '---')), ...rows.map(row)];

export function formatReport(r: Report): string {
  const lines = [r.header, ''];
  if (r.sassMissing) lines.push(`SASS: not read (${r.sassMissing})`, '');
  lines.push(...table(
    ['kernel', 'threads', 'regs', 'spill B', 'smem B', 'occupancy', 'tensor', 'FFMA', `LDG ${WIDTHS.join('/')}`, 'LDGSTS', 'TMA', 'LDSM', 'BAR', 'SHFL', 'cvt', 'SASS'],
    r.kernels.map((k) => {
      const s = k.sass;
      const occ = `${pct(k.occupancy.fraction)} (${k.occupancy.blocksPerSm}/SM, ${k.occupancy.limit})`;
      const res = [k.name, k.threads, k.resources.registers, k.resources.spillStores + k.resources.spillLoads, k.sharedBytes, occ];
      if (!s) return [...res, ...Array(10).fill('—')];
      return [...res, tensorSummary(s), s.ffma, WIDTHS.map((w) => s.ldg[w] ?? 0).join('/'), s.ldgsts, s.tma, s.ldsm, s.bar, s.shfl, s.cvt, s.total];
    }),
  ));
  const cases = r.kernels.flatMap((k) => k.cases.map((c) => ({ k, c })));
  lines.push('');
  if (!cases.length) lines.push(`No selected kernel has a shape in preset ${r.preset}.`);
  else {
    lines.push(...table(
      ['kernel', 'shape', 'blocks', 'bytes', 'FLOPs', 'L2 bytes', 'est. time', 'roofline time', 'of roofline', 'bound'],
      cases.map(({ k, c }) => {
        const e = c.estimate;
        return [k.name, c.label, e.blocks, si(e.bytes, 'B'), e.flops === null ? '—' : si(e.flops, 'FLOP'), e.l2Bytes === null ? '—' : si(e.l2Bytes, 'B'),
          time(e.seconds), time(e.rooflineSeconds), e.fraction === null ? '— (bytes only)' : pct(e.fraction), e.bound];
      }),
    ));
  }
  const noShape = r.kernels.filter((k) => !k.cases.length).map((k) => k.name);
  if (noShape.length && cases.length) lines.push('', `No shape in preset ${r.preset}: ${noShape.join(', ')}.`);
  return lines.join('\n');
}
