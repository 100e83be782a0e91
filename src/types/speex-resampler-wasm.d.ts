// The package ships an Emscripten module factory without type declarations.
declare module '@echogarden/speex-resampler-wasm/simd' {
  const loadModule: () => Promise<unknown>;
  export default loadModule;
}
