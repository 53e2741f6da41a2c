/**
 * scripts/npm_cache.ts: which specifiers get their registry metadata cached. (That a program then starts without
 * asking the registry is what tests/log/log_test.ts sees: Deno's "Download …" lines would break its JSON lines.)
 */
import assert from "node:assert/strict";
import { npmImports } from "../../scripts/npm_cache.ts";

Deno.test("npmImports: the npm: package specifiers of the imports, each once, sorted; prefix mappings and other kinds are left out", () => {
  assert.deepEqual(
    npmImports({
      imports: {
        "b": "npm:b@1.0.0",
        "a": "npm:@s/a@2.0.0",
        "a/": "npm:/@s/a@2.0.0/",
        "again": "npm:b@1.0.0",
        "local": "./src/x.ts",
        "jsr": "jsr:@std/assert@1",
      },
    }),
    ["npm:@s/a@2.0.0", "npm:b@1.0.0"],
  );
  assert.deepEqual(npmImports({}), []);
});
