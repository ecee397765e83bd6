/**
 * What the model CLIs share beyond compiler/cli/args.ts (the parsing and error contract
 * of every mimo-* tool): the choice between a named preset and the tool's other source.
 */
import { PRESETS } from '../presets.js';
import { UsageError } from '../../compiler/cli/args.js';

/**
 * `--preset NAME` or the tool's other source (`--config FILE`, `--model DIR`): exactly
 * one of them, and the preset one of model/presets.ts.
 */
export function presetOr(preset: string | undefined, other: { readonly flag: string; readonly metavar: string; readonly value: string | undefined }): void {
  if ((preset === undefined) === (other.value === undefined)) throw new UsageError(`give exactly one of --preset NAME or --${other.flag} ${other.metavar}`);
  if (preset !== undefined && !PRESETS.includes(preset)) throw new UsageError(`--preset must be one of ${PRESETS.join(', ')} (got '${preset}')`);
}
