/** Register and spill figures that `ptxas -v` prints, per kernel: the no-spill check and the autotuner read them. */
export interface PtxasReport { kernel: string; arch: string; registers: number; spillStores: number; spillLoads: number }

export function parsePtxas(text: string): PtxasReport[] {
  const reports: PtxasReport[] = [];
  let kernel = '';
  let arch = '';
  let spill = { stores: 0, loads: 0 };
  for (const line of text.split('\n')) {
    const fn = /Compiling entry function '([^']+)'(?: for '([^']+)')?/.exec(line);
    if (fn) [kernel, arch] = [fn[1], fn[2] ?? ''];
    const sp = /(\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (sp) spill = { stores: Number(sp[1]), loads: Number(sp[2]) };
    const used = /Used (\d+) registers/.exec(line);
    if (used && kernel) reports.push({ kernel, arch, registers: Number(used[1]), spillStores: spill.stores, spillLoads: spill.loads });
  }
  return reports;
}

