import assert from "node:assert/strict";
import { parseJunit } from "../../scripts/test.ts";

Deno.test("suite runner: JUnit counting folds steps into their test and reads failures and skips", () => {
  const xml = `<testsuites><testsuite name="./tests/a_test.ts">
    <testcase name="skipped one" classname="./tests/a_test.ts" time="0.000" line="1" col="6">
        <skipped/>
    </testcase>
    <testcase name="failing one" classname="./tests/a_test.ts" time="0.003" line="2" col="6">
        <failure message="Uncaught Error: boom &amp; more">Error: boom</failure>
    </testcase>
    <testcase name="steps" classname="./tests/a_test.ts" time="0.002" line="3" col="6">
    </testcase>
    <testcase name="steps &gt; a" classname="./tests/a_test.ts" time="0.000" line="3" col="43">
    </testcase>
    <testcase name="x &gt; y" classname="./tests/a_test.ts" time="0.000" line="9" col="6">
    </testcase>
  </testsuite></testsuites>`;
  assert.deepEqual(parseJunit(xml), [
    { name: "tests/a_test.ts :: skipped one", status: "skipped" },
    { name: "tests/a_test.ts :: failing one", status: "failed", detail: "Uncaught Error: boom & more" },
    { name: "tests/a_test.ts :: steps", status: "passed" },
    { name: "tests/a_test.ts :: x > y", status: "passed" },
  ]);
});
