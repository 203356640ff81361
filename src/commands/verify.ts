// `netlab verify`: run the lab's checks and show each with its evidence.
import { checkVerifyOptions, verifyAndReport, type VerifyOptions } from '../lifecycle/verify.js';
import { findUpLab, requireNodeAccess } from './common.js';
import type { TargetOptions } from '../exec/targets.js';

export async function verifyCommand(arg: string | undefined, options: VerifyOptions & TargetOptions): Promise<number> {
  checkVerifyOptions(options);
  const state = await findUpLab(arg, options);
  requireNodeAccess('verify', state.target);
  return verifyAndReport(state, options);
}
