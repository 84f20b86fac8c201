/**
 * Bit-level conversions between float32 and the 16-bit float formats stored in checkpoints.
 *
 * F16 uses the platform's Float16Array (IEEE binary16, round to nearest even). BF16 has no
 * typed array, so it is handled as raw 16-bit patterns: the top half of a float32.
 */

/** BF16 bit patterns → float32. Exact: BF16 is float32 with the low 16 mantissa bits zero. */
export function bf16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

/**
 * Float32 values → BF16 bit patterns, rounding to nearest even (as PyTorch does), so that
 * truncation bias does not accumulate over a checkpoint's worth of weights.
 */
export function float32ToBf16Bits(values: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i];
    if ((b & 0x7fffffff) > 0x7f800000) {
      // Rounding could carry a NaN payload into the exponent and turn it into infinity.
      result[i] = (b >>> 16) | 0x0040;
      continue;
    }
    result[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return result;
}

/** Float32 values → F16 bit patterns (round to nearest even; overflow gives ±infinity). */
export function float32ToF16Bits(values: Float32Array): Uint16Array {
  const half = Float16Array.from(values);
  return new Uint16Array(half.buffer);
}

/** F16 bit patterns → float32 (exact). */
export function f16BitsToFloat32(bits: Uint16Array): Float32Array {
  return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
}
