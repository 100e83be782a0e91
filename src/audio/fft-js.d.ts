// fft.js ships no types; the part the spectrum code uses.
declare module 'fft.js' {
  export default class FFT {
    constructor(size: number);
    createComplexArray(): number[];
    /** The first half of the spectrum of a real signal, interleaved re, im. */
    realTransform(output: number[], input: ArrayLike<number>): void;
    /** Inverse of a full complex spectrum, interleaved re, im (tests build signals with it). */
    inverseTransform(output: number[], input: ArrayLike<number>): void;
  }
}
