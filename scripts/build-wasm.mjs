// Compiles src/audio/wasm/*.wat into TypeScript modules holding the binary (base64), so tsc's
// output needs no asset copying and no toolchain at run time. Run after editing a .wat:
//   node scripts/build-wasm.mjs          writes the .wasm.ts files
//   node scripts/build-wasm.mjs --check  exits 1 if a .wasm.ts is not what its .wat compiles to
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import initWabt from 'wabt';

const folder = fileURLToPath(new URL('../src/audio/wasm/', import.meta.url));
const check = process.argv.includes('--check');
const wabt = await initWabt();
let stale = 0;
for (const name of readdirSync(folder).filter((file) => file.endsWith('.wat'))) {
  const source = readFileSync(join(folder, name), 'utf8');
  const module = wabt.parseWat(name, source, { simd: true });
  module.validate();
  const { buffer } = module.toBinary({});
  module.destroy();
  const target = join(folder, name.replace(/\.wat$/, '.wasm.ts'));
  const text = `// Generated from ${name} by scripts/build-wasm.mjs: edit the .wat and run it again.\nexport const wasmBase64 =\n  '${Buffer.from(buffer).toString('base64')}';\n`;
  if (!check) writeFileSync(target, text);
  else if (readFileSync(target, 'utf8') !== text) {
    console.error(`${target} is not what ${name} compiles to: run node scripts/build-wasm.mjs`);
    stale++;
  }
}
process.exit(stale ? 1 : 0);
