/** WGSL fragments shared by kernel families. */

/** Formats a number as a WGSL f32 literal (always with a decimal point or exponent). */
export function f32Literal(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`cannot write ${x} as a WGSL literal`);
  const s = x.toString();
  return /[.eE]/.test(s) ? s : s + ".0";
}

/** `enable f16;` when a kernel stores f16 data. */
export function enableF16(used: boolean): string {
  return used ? "enable f16;\n" : "";
}

/**
 * The flat invocation index for a 1D problem laid on a 2D grid (grids are split over y when
 * the x dimension would pass the 65535-workgroup limit). `rowInvocations` = groupsX · wgSize.
 */
export function flatIndex(rowInvocations: number): string {
  return `(gid.x + gid.y * ${rowInvocations}u)`;
}
