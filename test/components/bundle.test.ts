import * as assert from "node:assert/strict";
import { buildBundle, esbuildTarget } from "../../components/bundle";

describe("bundleHandler", () => {
  it("builds byte-identical output from unchanged sources", () => {
    const first = buildBundle("functions/users/list.ts");
    const second = buildBundle("functions/users/list.ts");
    assert.equal(first.code, second.code);
    assert.equal(first.map, second.map);
  });

  it("leaves the AWS SDK external and bundles everything else as ESM", () => {
    const bundle = buildBundle("functions/users/list.ts");
    assert.match(bundle.code, /from"@aws-sdk\/lib-dynamodb"/);
    assert.doesNotMatch(
      bundle.code,
      /@aws-lambda-powertools\/logger/,
      "Powertools must be bundled, not imported",
    );
    assert.match(bundle.code, /export\{/);
  });

  it("minifies the module and keeps the source map as a separate file", () => {
    const bundle = buildBundle("functions/users/list.ts");
    assert.ok(bundle.code.split("\n").length < 10, "the module is not minified");
    assert.match(bundle.code, /\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    assert.equal(JSON.parse(bundle.map).version, 3);
  });

  it("records sources relative to the project, never absolute paths", () => {
    const sources = JSON.parse(buildBundle("functions/users/list.ts").map).sources as string[];
    assert.ok(sources.some((s) => s.endsWith("functions/users/list.ts")));
    assert.ok(
      sources.every((s) => !s.startsWith("/")),
      "absolute paths make archives differ between machines",
    );
  });

  it("maps Lambda runtimes to esbuild targets", () => {
    assert.equal(esbuildTarget("nodejs22.x"), "node22");
    assert.throws(() => esbuildTarget("python3.12"), /Unsupported Lambda runtime python3.12/);
  });
});
