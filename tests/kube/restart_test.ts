/**
 * API server restart on a private control plane (not the shared one, which other tests use): an informer keeps
 * retrying while the server is down, and afterwards resumes; when the restarted server's fresh watch cache answers
 * the informer's old resourceVersion with 410 Gone the informer relists, otherwise its watch resumes — either way
 * it delivers what changed meanwhile and its cache ends consistent.
 */
import assert from "node:assert/strict";
import { clientNode } from "../../kit/k8s.ts";
import { skipUnless } from "../helpers/caps.ts";
import { clusterDown, clusterUp } from "../../scripts/cluster.ts";
import { BINARIES } from "../../scripts/controlplane/build.ts";
import { startDaemon, stopDaemon } from "../../kit/proc.ts";
import { recordPid, waitReady } from "../../scripts/controlplane/proc.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { Backoff } from "../../src/kube/backoff.ts";
import { Informer } from "../../src/kube/informer.ts";
import { ensureWidgetCrd, type Widget, widget, WIDGETS } from "./testcrd.ts";
import { until } from "../../kit/wait.ts";

/** The command line of a running process (argv without argv[0]). */
function argsOf(pid: number): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter(Boolean).slice(1);
}

Deno.test({
  name: "informer survives an API server restart: retries with backoff and ends consistent (relist on 410)",
  ignore: skipUnless("cluster"),
  fn: async () => {
    const dir = `/tmp/dn42op-kr-cp-${Deno.pid}`;
    // No CRDs at start (the Widget CRD is installed below); a directory without *.yaml files says so.
    const info = await clusterUp({ dir, ownerPid: Deno.pid, crdDir: `${dir}/no-crds`, log: () => {} });
    let restartedPid: number | undefined;
    const k8s = await clientNode();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(info.kubeconfig);
    const client = new KubeClient(kc);
    const inf = new Informer<Widget>(client, {
      resource: WIDGETS,
      namespace: "default",
      backoff: new Backoff(200, 1000),
    });
    try {
      await ensureWidgetCrd(client);
      for (const n of ["keep", "gone"]) await client.create(WIDGETS, "default", widget("default", n, "lax1"));

      const log: string[] = [];
      inf.on({ add: (o) => log.push(`add:${o.metadata.name}`), delete: (o) => log.push(`delete:${o.metadata.name}`) });
      inf.start();
      await inf.waitForSync();

      const args = argsOf(info.pids.apiserver);
      await stopDaemon(info.pids.apiserver, BINARIES.kubeApiserver);
      const errorsBefore = inf.stats.errors;
      await until("failed reconnects while the server is down", () => inf.stats.errors >= errorsBefore + 2, 20_000);
      assert.equal(inf.store.size, 2, "the cache is kept while the server is unreachable");

      restartedPid = await startDaemon(BINARIES.kubeApiserver, args, info.logs.apiserver);
      await recordPid(dir, "apiserver", restartedPid); // the cluster's watchdog stops it if this test dies
      await waitReady("restarted kube-apiserver", async () => {
        await client.list(WIDGETS, { namespace: "default", limit: 1 }); // CRD paths installed too
        return true;
      }, { pid: restartedPid, bin: BINARIES.kubeApiserver, logPath: info.logs.apiserver });
      // Changes right after the restart, while the informer may still be backing off.
      await client.delete(WIDGETS, "default", "gone");
      await client.create(WIDGETS, "default", widget("default", "new", "lax1"));
      await until("changes after restart", () => log.includes("delete:gone") && log.includes("add:new"), 30_000);
      // Whether the resumed watch gets 410 (→ relist) or resumes cleanly depends on timing; either way the cache
      // must end consistent, which is what the assertion below checks.
      assert.deepEqual(inf.store.keys().sort(), ["default/keep", "default/new"]);
    } finally {
      await inf.stop();
      if (restartedPid) await stopDaemon(restartedPid, BINARIES.kubeApiserver);
      await clusterDown(info);
    }
  },
});
