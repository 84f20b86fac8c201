/** The expected tensor shapes of a checkpoint by name, as `checkWeights` takes them. */
export class ShapeTable extends Map<string, number[]> {
  /** A layer's `name.weight` of `weightShape` and its `name.bias` [weightShape[0]]. */
  biased(name: string, weightShape: number[]): void {
    this.set(`${name}.weight`, weightShape);
    this.set(`${name}.bias`, [weightShape[0]]);
  }

  /** A linear layer's weight [out, inp] and bias [out]. */
  linear(name: string, out: number, inp: number): void {
    this.biased(name, [out, inp]);
  }
}
