/**
 * @kubernetes/client-node, loaded on first use.
 *
 * `deno test` gives every test file an isolate of its own, so each file evaluates its whole static module graph
 * again; client-node alone takes about half a second of CPU per isolate. Most files that reach it through this kit
 * skip all their tests without a cluster or root (`deno task test:unit`), so test support code imports it only as
 * types (`import type * as k8s`) and gets the values here, inside the code that runs when a test does:
 *
 *   const k8s = await clientNode();
 *   const core = kc.makeApiClient(k8s.CoreV1Api);
 */
let loaded: Promise<typeof import("@kubernetes/client-node")> | undefined;

/** The @kubernetes/client-node module, imported once per isolate on the first call. */
export function clientNode(): Promise<typeof import("@kubernetes/client-node")> {
  return loaded ??= import("@kubernetes/client-node");
}

/** Request options that send a patch as a JSON merge patch (client-node's default is a JSON patch). */
export async function mergePatch() {
  const k8s = await clientNode();
  return k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
}
