// The client SDK as a browser gets it: bundled and minified with esbuild. It must not pull in the
// bridge's validator (the protocol core has no dependency), and stays small.
import { expect } from 'chai';
import { build } from 'esbuild';

describe('client SDK browser bundle', () => {
  it('contains no validator and is at most 60 KB minified', async function () {
    this.timeout(20_000);
    const out = await build({
      entryPoints: ['client-sdk/index.ts'],
      bundle: true,
      minify: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((i) => i.includes('node_modules/zod'))).to.deep.equal([]);
    expect(inputs).to.include('shared/protocol-core.ts');
    const bytes = out.outputFiles[0]!.contents.byteLength;
    console.log(`      client SDK browser bundle: ${(bytes / 1024).toFixed(1)} KB minified`);
    expect(bytes).to.be.at.most(60 * 1024);
  });
});
