/** WGSL fragments shared by kernel families. */

/** Formats a number as a WGSL f32 literal (always with a decimal point or exponent). */
export function f32Literal(x: number): string {
  // 3.5e38 is a finite double but no f32: WGSL would refuse the whole shader with a compile
  // dump. Callers check user values first; this keeps any that slip through to one line.
  if (!Number.isFinite(Math.fround(x))) {
    throw new RangeError(`cannot write ${x} as a WGSL f32 literal (outside the float32 range)`);
  }
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
